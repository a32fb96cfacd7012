module github.com/gracekit/gracekit

go 1.26.0

require (
	github.com/pelletier/go-toml/v2 v2.2.2
	go.yaml.in/yaml/v3 v3.0.6
	golang.org/x/sys v0.50.0
)

require github.com/dustin/go-humanize v1.1.0
