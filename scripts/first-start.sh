#!/usr/bin/env bash
# Time to the first answer of `bash scripts/serve.sh` on a fresh clone with an empty cargo
# cache: clones REPO (default: this checkout's committed HEAD) into a temporary directory,
# points CARGO_HOME at an empty one (every crate is downloaded and built), runs serve.sh
# there on a free port and polls POST /predict until it answers. Prints the seconds to the
# first answer and the build's own line; the clone and the cache are removed at exit.
#
#   bash scripts/first-start.sh [REPO]
#
# The toolchain itself (rustup's) is kept. Run it alone on the machine: it measures a
# 2-core build.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=${1:-$PWD}
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -- "-$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
git clone -q "$repo" "$work/otto-rec"
export CARGO_HOME=$work/cargo-home
mkdir -p "$CARGO_HOME"
body='{"aids":[429240,588903,170046],"timestamps":[1674210000,1674220000,1674830000],"event_types":[0,1,1]}'
start=$(date +%s)
# A process group of its own, so that cargo, rustc and the server stop together.
setsid bash "$work/otto-rec/scripts/serve.sh" --port "$port" >"$work/out" 2>"$work/err" &
pid=$!
while ! curl -sf "127.0.0.1:$port/predict" -H 'Content-Type: application/json' -d "$body" >/dev/null; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "first-start: serve.sh stopped before answering" >&2
    tail -20 "$work/err" >&2
    exit 1
  fi
  sleep 1
done
echo "first answer after $(( $(date +%s) - start )) s ($(nproc) cores)"
grep -h 'Finished' "$work/err" || true
