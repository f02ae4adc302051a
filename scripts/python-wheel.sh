#!/usr/bin/env bash
# Builds the Python package (python/: PyO3 + maturin, from this crate) as a wheel,
# installs it into a fresh virtualenv and runs its pytest suite, which compares it with
# the otto-rec binary of the same tree (serve and predict).
#
#   bash scripts/python-wheel.sh                # release wheel and binary
#   PROFILE=dev bash scripts/python-wheel.sh    # debug: reuses a `cargo test` build (CI)
#
# The wheel is left in target/wheels/ (abi3: one file for every CPython >= 3.9).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
profile=${PROFILE:-release}
venv=target/python-venv
rm -rf "$venv" target/wheels
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet 'maturin>=1.5,<2' pytest polars pandas
echo "== maturin build ($profile)"
# A wheel for this machine (platform tag `linux`): it links the system's OpenMP runtime
# (libgomp, LightGBM's threads) as the binary does.
"$venv/bin/maturin" build --quiet -m python/Cargo.toml --profile "$profile" \
  --compatibility linux --interpreter "$venv/bin/python" --out target/wheels
"$venv/bin/pip" install --quiet target/wheels/otto_rec-*.whl
if [ "$profile" = release ]; then
  cargo build --release --quiet
  bin=$PWD/target/release/otto-rec
else
  cargo build --quiet
  bin=$PWD/target/debug/otto-rec
fi
echo "== pytest python/tests (against $bin)"
# From a directory outside the tree, so that `import otto_rec` is the installed wheel.
cd "$venv"
OTTO_REC_BIN=$bin bin/python -m pytest -q -p no:cacheprovider "$OLDPWD/python/tests"
