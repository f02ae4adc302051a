#!/usr/bin/env bash
# The main job on a fresh machine: installs what the build needs when missing, then builds
# otto-rec and serves the bundled model (models/default) on 127.0.0.1:8000. Extra
# arguments go to `otto-rec serve` (e.g. --port 9000, --model-dir DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
exec cargo run --release -- serve "$@"
