#!/usr/bin/env bash
# Load test of a running `otto-rec serve` with wrk, on loopback only, bounded in time.
#
#   scripts/loadtest.sh [-u http://127.0.0.1:8000] [-d 30] [-c "1 8 32"] [-e mixed|5|30] [-w WORLD_DIR]
#
# Request bodies come from the sessions of WORLD_DIR/test.jsonl (a generated world; one is
# generated when missing): "mixed" sends them as they are (1 to 500 events), a number N
# sends sessions cut to their last N events. Prints one row per connection count:
# requests/s, p50/p90/p99 latency (ms), errors (non-2xx, socket errors, timeouts).
set -euo pipefail
cd "$(dirname "$0")/.."
url=http://127.0.0.1:8000; duration=30; conns="1 8 32"; events=mixed; world=target/loadtest-world
while getopts "u:d:c:e:w:" opt; do
  case $opt in
    u) url=$OPTARG ;; d) duration=$OPTARG ;; c) conns=$OPTARG ;; e) events=$OPTARG ;; w) world=$OPTARG ;;
    *) sed -n '2,10p' "$0"; exit 1 ;;
  esac
done
case "$url" in
  http://127.*|http://localhost*|http://\[::1\]*) ;;
  *) echo "loadtest: only loopback targets are allowed ($url)" >&2; exit 1 ;;
esac
if ! command -v wrk >/dev/null; then
  echo "loadtest: installing wrk" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
if [ ! -f "$world/test.jsonl" ]; then
  cargo run --release --quiet -- generate --out "$world" --sessions 200000 --seed 7
fi
bodies=$(mktemp)
trap 'rm -f "$bodies"' EXIT
python3 scripts/make_requests.py "$world/test.jsonl" "$bodies" "$events" 20000
curl -sf "$url/health" >/dev/null || { echo "loadtest: no server answers at $url/health" >&2; exit 1; }
printf '%-6s %-8s %10s %9s %9s %9s %8s %9s\n' events conns 'req/s' 'p50 ms' 'p90 ms' 'p99 ms' errors requests
for c in $conns; do
  line=$(BODIES_FILE=$bodies wrk -t1 -c"$c" -d"${duration}s" --timeout 5s --latency -s scripts/loadtest.lua "$url" | grep '^RESULT')
  read -r _ rps p50 p90 p99 errors requests <<<"$line"
  printf '%-6s %-8s %10s %9s %9s %9s %8s %9s\n' "$events" "$c" "$rps" "$p50" "$p90" "$p99" "$errors" "$requests"
done
