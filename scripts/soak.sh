#!/usr/bin/env bash
# Soak test of `otto-rec serve`: a saturating load for a long time, with a model reload
# every minute, watching memory.
#
#   scripts/soak.sh [-d SECONDS] [-c CONNECTIONS] [-r RELOAD_EVERY] [-m MODEL_DIR]
#
# Defaults: 600 s, 8 connections, a reload (POST /admin/reload of the same bundle: full
# validation, smoke requests and swap) every 60 s (0: none), models/default. Starts its own
# server on a free loopback port (the working tree's release binary, or BIN), drives it
# with wrk: sessions of the world models/default was built from, as they are (1 to 500
# events), objectives in turn. Samples the server's RSS every 10 s and prints it, then
# one summary: req/s, p50/p99 (ms), errors, reloads ok/failed, RSS at the first sample,
# at the end and at most. Exits 1 on any error or failed reload.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=600; conns=8; every=60; model=models/default
while getopts "d:c:r:m:" opt; do
  case $opt in
    d) duration=$OPTARG ;; c) conns=$OPTARG ;; r) every=$OPTARG ;; m) model=$OPTARG ;;
    *) sed -n '2,12p' "$0"; exit 1 ;;
  esac
done
source scripts/release-bin.sh
source scripts/local-server.sh
set +e
need wrk
world=target/default-world
[ -f "$world/test.jsonl" ] || "$bin" generate --out "$world" --sessions 60000 --seed 42 2>/dev/null
python3 scripts/make_requests.py "$world/test.jsonl" "$work/bodies" mixed 20000 2>/dev/null
token=soak-$RANDOM$RANDOM
OTTO_ADMIN_TOKEN=$token start_server --model-dir "$model"
rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
echo "soak: $url, $duration s, $conns connections, reload every ${every}s" >&2
BODIES_FILE=$work/bodies wrk -t1 -c"$conns" -d"${duration}s" --timeout 5s --latency \
  -s scripts/loadtest.lua "$url" >"$work/wrk" 2>&1 &
load=$!
first=""; max=0; ok=0; failed=0; t=0
printf '%6s %10s\n' 'time s' 'RSS MiB' >&2
while kill -0 "$load" 2>/dev/null; do
  sleep 10
  t=$((t + 10))
  kb=$(rss)
  [ -z "$first" ] && first=$kb
  [ "$kb" -gt "$max" ] && max=$kb
  printf '%6d %10.1f\n' "$t" "$(echo "$kb / 1024" | bc -l)" >&2
  if [ "$every" -gt 0 ] && [ $((t % every)) -eq 0 ] && [ "$t" -lt "$duration" ]; then
    code=$(curl -s -o "$work/reload" -w '%{http_code}' -X POST -H "Authorization: Bearer $token" "$url/admin/reload")
    if [ "$code" = 200 ]; then ok=$((ok + 1)); else failed=$((failed + 1)); cat "$work/reload" >&2; fi
  fi
done
wait "$load"
last=$(rss)
line=$(grep '^RESULT' "$work/wrk") || { cat "$work/wrk" >&2; exit 1; }
read -r _ rps p50 _ p99 errors requests <<<"$line"
mib() { echo "scale=1; $1 / 1024" | bc; }
printf '%-9s %-6s %10s %9s %9s %8s %10s %8s %8s %9s %9s %9s\n' seconds conns 'req/s' 'p50 ms' 'p99 ms' errors requests reloads failed 'RSS0 MiB' 'RSS1 MiB' 'max MiB'
printf '%-9s %-6s %10s %9s %9s %8s %10s %8s %8s %9s %9s %9s\n' "$duration" "$conns" "$rps" "$p50" "$p99" "$errors" "$requests" "$ok" "$failed" "$(mib "$first")" "$(mib "$last")" "$(mib "$max")"
[ "$errors" -eq 0 ] && [ "$failed" -eq 0 ]
