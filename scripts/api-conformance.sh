#!/usr/bin/env bash
# API conformance with schemathesis, the standard property-based tester of OpenAPI services:
# installs it into a virtualenv (target/schemathesis-venv, reused), serves models/default on
# a random loopback port with an admin token (so /admin/reload is in the document), and runs
# `schemathesis run <url>/openapi.json --checks all` with no check excluded, bounded in time
# (scripts/schemathesis.toml: the one rule the document cannot state).
#
#   bash scripts/api-conformance.sh [MAX_SECONDS]      (default 120)
#
# BIN names the otto-rec binary (default: the working tree, built in release). Exits with
# schemathesis' status: 0 only when every check passed on every generated request.
set -euo pipefail
cd "$(dirname "$0")/.."
max=${1:-120}
venv=target/schemathesis-venv
if ! "$venv/bin/schemathesis" --version >/dev/null 2>&1; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'schemathesis>=4.3,<5'
fi
source scripts/release-bin.sh
set +e
source scripts/local-server.sh
set -e
OTTO_ADMIN_TOKEN=conformance-token start_server --model-dir models/default
echo "api-conformance: $("$venv/bin/schemathesis" --version) against $url (up to ${max} s)"
root=$PWD
set +e
# From the scratch directory: schemathesis keeps a .schemathesis/ cache in its working
# directory, which does not belong in the checkout.
(cd "$work" && "$root/$venv/bin/schemathesis" --config-file "$root/scripts/schemathesis.toml" \
  run "$url/openapi.json" --checks all --max-time "$max" \
  --header "Authorization: Bearer conformance-token" --seed 42 --no-color)
status=$?
set -e
kill -0 "$server" 2>/dev/null || { echo "api-conformance: the server died" >&2; cat "$work/err" >&2; exit 1; }
exit "$status"
