#!/usr/bin/env bash
# Runs every test file with node's own test runner. Node 20's `node --test` neither finds .ts files
# in a folder nor expands globs, so the list is built here. Optional filter: test/run.sh unit
set -euo pipefail
cd "$(dirname "$0")/.."
filter="${1:-}"
mapfile -t files < <(find test -name '*.test.ts' -path "*${filter}*" | sort)
if [ "${#files[@]}" -eq 0 ]; then echo "no test files match '${filter}'" >&2; exit 1; fi
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
