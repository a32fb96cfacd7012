#!/bin/sh
# The gracekit-validate hook of pre-commit (see .pre-commit-hooks.yaml).
# pre-commit runs it from the repository being committed to, with the
# files to check as arguments. It builds gen once from the gracekit
# checkout that pre-commit keeps in its cache, as gracekit-gen (gen alone,
# not the other commands of the repository), then runs gen validate.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.pre-commit-bin/gracekit-gen"
if [ ! -x "$bin" ]; then
	mkdir -p "$root/.pre-commit-bin"
	tmp=$(mktemp "$root/.pre-commit-bin/gracekit-gen.XXXXXX")
	trap 'rm -f "$tmp"' EXIT
	# Hooks may run in parallel: each builds to a file of its own and
	# renames it into place, which is atomic.
	(cd "$root" && GOWORK=off GOFLAGS=-mod=readonly go build -o "$tmp" ./gen)
	mv -f "$tmp" "$bin"
	trap - EXIT
fi
exec "$bin" validate "$@"
