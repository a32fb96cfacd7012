module github.com/gracekit/gracekit/bench

go 1.26.0

replace github.com/gracekit/gracekit => ../

require (
	github.com/cloudflare/tableflip v1.2.3
	github.com/gracekit/gracekit v0.0.0-00010101000000-000000000000
	go.yaml.in/yaml/v3 v3.0.6
)

require golang.org/x/sys v0.50.0 // indirect
