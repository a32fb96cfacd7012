module github.com/gracekit/gracekit/http3

go 1.26.0

require (
	github.com/gracekit/gracekit v0.0.0
	github.com/quic-go/quic-go v0.65.0
)

require (
	github.com/coreos/go-systemd/v22 v22.7.0 // indirect
	github.com/quic-go/qpack v0.6.0 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)

replace github.com/gracekit/gracekit => ../
