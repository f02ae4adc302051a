#!/usr/bin/env bash
# The main job on a fresh machine: builds otto-rec and serves the bundled model
# (models/default) on 127.0.0.1:8000. Extra arguments go to `otto-rec serve` (e.g. --port
# 9000, --model-dir DIR).
#
# Serving scores with otto-rec's own evaluator, so this build leaves out training (the
# cargo feature `train`: LightGBM's C++ library, CMake, libclang): the first answer comes
# minutes sooner on a fresh machine. `cargo build --release` builds the full tool; the
# next run of this script rebuilds only otto-rec itself.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh serve
exec cargo run --release --no-default-features -- serve "$@"
