#!/usr/bin/env bash
# Serve throughput of several otto-rec binaries (or settings) side by side: each serves
# models/default in turn and takes `wrk -t2 -c8 -d20s` of 30-event sessions of the world the
# model was built from, for ROUNDS (default 3) alternating rounds.
#
#   [ROUNDS=N] scripts/serve-compare.sh BIN [BIN ...]
#   scripts/serve-compare.sh "BIN --workers 2" "BIN --workers 8"   # serve flags after BIN
#   scripts/serve-compare.sh "OLD --model-dir OLD_MODEL" "NEW"        # each its own bundle
#
# Prints one line per round and binary: req/s, p50/p90/p99 ms, errors, requests.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { sed -n '2,9p' "$0"; exit 1; }
bins=("$@")
read -r bin _ <<<"${bins[0]}"
source scripts/local-server.sh
set +e
need wrk
world=target/default-world
[ -f "$world/test.jsonl" ] || "$bin" generate --out "$world" --sessions 60000 --seed 42 2>/dev/null
python3 scripts/make_requests.py "$world/test.jsonl" "$work/bodies" 30 20000 2>/dev/null
printf '%-6s %-28s %10s %9s %9s %9s %8s %9s\n' round binary 'req/s' 'p50 ms' 'p90 ms' 'p99 ms' errors requests
for round in $(seq "${ROUNDS:-3}"); do
  for spec in "${bins[@]}"; do
    read -r bin flags <<<"$spec"
    # shellcheck disable=SC2086 # the flags are words
    case " $flags " in
      *" --model-dir "*) start_server $flags ;; # a bundle of its own (e.g. another feature set)
      *) start_server --model-dir models/default $flags ;;
    esac
    line=$(BODIES_FILE=$work/bodies wrk -t2 -c8 -d20s --timeout 5s --latency -s scripts/loadtest.lua "$url" | grep '^RESULT')
    read -r _ rps p50 p90 p99 errors requests <<<"$line"
    printf '%-6s %-28s %10s %9s %9s %9s %8s %9s\n' "$round" "$spec" "$rps" "$p50" "$p90" "$p99" "$errors" "$requests"
    kill "$server"; wait "$server" 2>/dev/null; server=""
  done
done
