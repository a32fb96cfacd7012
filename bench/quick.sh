#!/usr/bin/env bash
# Quick mode of the gracekit benchmark, for CI: a few restarts of every
# restartable subject under load on 127.0.0.1. Exits non-zero when gracekit
# (examples/reload) loses a request, misses a handover or leaves a process
# or zombie behind; skips gracekit with a message when examples/reload does
# not exist. The other subjects are reported, not judged. Takes well under
# two minutes once the module cache is warm.
set -euo pipefail
cd "$(dirname "$0")"
exec go run ./cmd/benchrun -quick "$@"
