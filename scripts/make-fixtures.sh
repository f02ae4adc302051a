#!/usr/bin/env bash
# Regenerates fixtures/world, the small synthetic OTTO world committed for tests and the
# default model bundle. Deterministic: the same seed gives byte-identical files.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --quiet -- generate --out fixtures/world --sessions 4000 --seed 42
