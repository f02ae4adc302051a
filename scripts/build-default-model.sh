#!/usr/bin/env bash
# Rebuilds models/default, the bundle `serve` loads on a fresh clone: a synthetic OTTO
# world (seed 42), its co-visitation index with item embeddings, and the three rankers.
# Reproducible on any number of threads: the same otto-rec gives byte-identical Parquet
# files and models (SOURCE_DATE_EPOCH fixes the manifest's time stamp).
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=${SESSIONS:-60000}
# Build before setting SOURCE_DATE_EPOCH: some dependencies' build scripts watch it, and
# a changed value would rebuild them.
cargo build --release --quiet
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
bin=target/release/otto-rec
world=target/default-world
rm -rf "$world" models/default.new
$bin generate --out "$world" --sessions "$SESSIONS" --seed 42
$bin build-index --input "$world/train.jsonl" --model-dir models/default.new --embeddings
# One cut per session: on this small world four (the `auto` choice) do not pay and grow the
# rankers that serve walks (BENCHMARKS.md, "More cuts, more trees, the default bundle").
$bin train --input "$world/train.jsonl" --model-dir models/default.new --seed 42 --cuts 1
rm -rf models/default
mv models/default.new models/default
du -sh models/default
