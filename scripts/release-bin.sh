# Sourced by the measuring scripts: sets $bin to the otto-rec binary to measure — BIN
# (environment) when set, otherwise the working tree, built in release.
if [ -n "${BIN:-}" ]; then
  bin=$(realpath "$BIN")
else
  source scripts/deps.sh
  cargo build --release --quiet
  bin=$PWD/target/release/otto-rec
fi
