#!/usr/bin/env bash
# Serve throughput of several otto-rec binaries (or settings) side by side: each serves
# models/default in turn and takes `wrk -t2 -c8 -d20s` of 30-event sessions of the world the
# model was built from, then the same sessions with 30 items the bundle does not know (the
# HTTP floor: parsing, routing and the answer, with no candidates to score), for ROUNDS
# (default 3) alternating rounds. `ratio` is the sessions' req/s over the floor's, on the
# same server in the same round.
#
#   [ROUNDS=N] scripts/serve-compare.sh BIN [BIN ...]
#   scripts/serve-compare.sh "BIN --workers 2" "BIN --workers 8"   # serve flags after BIN
#   scripts/serve-compare.sh "OLD --model-dir OLD_MODEL" "NEW"        # each its own bundle
#
# Prints one line per round and binary: req/s, p50/p90/p99 ms, errors, requests, the
# floor's req/s and p99, and the ratio.
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
# The floor: the same bodies with aids no bundle holds (above every generated world's).
python3 - "$work/bodies" "$work/floor" <<'PY'
import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as w:
    for n, line in enumerate(f):
        body = json.loads(line)
        body["aids"] = [4_000_000_000 + (n * 30 + i) % 90_000_000 for i in range(len(body["aids"]))]
        w.write(json.dumps(body, separators=(",", ":")) + "\n")
PY
bench() { BODIES_FILE=$1 wrk -t2 -c8 -d"${DURATION:-20}"s --timeout 5s --latency -s scripts/loadtest.lua "$url" | grep '^RESULT'; }
printf '%-6s %-28s %10s %9s %9s %9s %8s %9s %12s %9s %6s\n' round binary 'req/s' 'p50 ms' 'p90 ms' 'p99 ms' errors requests 'floor req/s' 'floor p99' ratio
for round in $(seq "${ROUNDS:-3}"); do
  for spec in "${bins[@]}"; do
    read -r bin flags <<<"$spec"
    # shellcheck disable=SC2086 # the flags are words
    case " $flags " in
      *" --model-dir "*) start_server $flags ;; # a bundle of its own (e.g. another feature set)
      *) start_server --model-dir models/default $flags ;;
    esac
    read -r _ rps p50 p90 p99 errors requests <<<"$(bench "$work/bodies")"
    read -r _ floor _ _ floor_p99 floor_errors _ <<<"$(bench "$work/floor")"
    errors=$((errors + floor_errors))
    ratio=$(echo "scale=3; $rps / $floor" | bc)
    printf '%-6s %-28s %10s %9s %9s %9s %8s %9s %12s %9s %6s\n' "$round" "$spec" "$rps" "$p50" "$p90" "$p99" "$errors" "$requests" "$floor" "$floor_p99" "$ratio"
    kill "$server"; wait "$server" 2>/dev/null; server=""
  done
done
