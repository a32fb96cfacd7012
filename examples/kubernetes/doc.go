// Package kubernetes holds the Kubernetes manifests of examples/reload
// (reload.yaml, Dockerfile) and the test that keeps them consistent with
// the gracekit configuration they ship.
package kubernetes
