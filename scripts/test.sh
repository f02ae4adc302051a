#!/usr/bin/env bash
# Runs the whole test suite: installs the build dependencies when missing, then cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
cargo test "$@"
