module github.com/gracekit/gracekit

go 1.26.0

require golang.org/x/sys v0.50.0

require github.com/coreos/go-systemd/v22 v22.7.0 // indirect
