#!/usr/bin/env bash
# Live sessions under load (README.md, "Live sessions"), on models/default with `wrk -t2 -c8`
# on the same machine:
#
#   [DURATION=20] [SOAK=300] [REDIS=1] bash scripts/live-bench.sh
#
# Parts 1 and 2 run on the embedded store, then (REDIS=1, the default) again on a Redis
# server this script starts on a free loopback port (`--session-store redis://…`) and stops
# by its process id.
#
# 1. Ingestion: POST /events in batches of 100 events (events/s) and of one event (req/s),
#    each event new (scripts/loadtest.lua).
# 2. Recommendations by session id: 20,000 sessions of 30 events of the world models/default
#    was built from are stored, then `POST /predict {"session": …}` for them is measured
#    against the stateless request carrying the same 30 events, on the same server; ratio.
# 3. Memory: 1,000,000 sessions filled to 30 events each, the server's RSS (the model's
#    own RSS before any event is shown beside it).
# 4. Soak (SOAK seconds, default 300; 0 skips it), on a fresh server: a stream of new
#    visitors of 30 events each past the 1,000,000-session cap, so the least recently used
#    are evicted all along; RSS sampled every 10 s after a first minute of the stream: its
#    first and last sample and its largest.
#
# MEMORY_ONLY=1 runs parts 3 and 4 only.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/release-bin.sh
source scripts/local-server.sh
set +e
need wrk bc
dur=${DURATION:-20}
soak=${SOAK:-300}
wrk_events() { BATCH=$1 SESSIONS=$2 PER=${4:-1} wrk -t2 -c8 -d"$3"s --timeout 5s --latency -s scripts/loadtest.lua "$url" | grep '^RESULT'; }
wrk_predict() { BODIES_FILE=$1 wrk -t2 -c8 -d"$dur"s --timeout 5s --latency -s scripts/loadtest.lua "$url" | grep '^RESULT'; }
metric() { curl -s "$url/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
rss_mib() { echo $(( $(ps -o rss= -p "$server") / 1024 )); }
row() { printf '%-58s %14s %10s\n' "$@"; }

row measure value 'p99 ms'
world=target/default-world
[ -f "$world/test.jsonl" ] || "$bin" generate --out "$world" --sessions 60000 --seed 42 2>/dev/null
python3 scripts/make_requests.py "$world/test.jsonl" "$work/bodies" 30 20000 2>/dev/null
redis_pid=""
stop_redis() { [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null; redis_pid=""; }
trap 'stop_redis; stop_server' EXIT
stores=(memory)
if [ "${REDIS:-1}" = 1 ]; then
  need redis-server
  stores+=(redis)
fi
[ "${MEMORY_ONLY:-0}" = 1 ] && stores=()
for store in "${stores[@]}"; do
  flags=()
  if [ "$store" = redis ]; then
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    flags=(--session-store "redis://127.0.0.1:$port")
  fi
  start_server --model-dir models/default "${flags[@]}"
  read -r _ rps _ _ p99 errors _ <<<"$(wrk_events 100 100000 "$dur")"
  row "$store: POST /events, batches of 100 (events/s)" "$(echo "$rps * 100 / 1" | bc)" "$p99"
  [ "$errors" = 0 ] || echo "live-bench: $errors errors" >&2
  read -r _ rps _ _ p99 errors _ <<<"$(wrk_events 1 100000 "$dur")"
  row "$store: POST /events, one event (req/s)" "$rps" "$p99"
  [ "$errors" = 0 ] || echo "live-bench: $errors errors" >&2
  python3 - "$url" "$work/bodies" "$work/by-session" "$work/stateless" <<'PY'
import json, sys, urllib.request
url, bodies, by_session, stateless = sys.argv[1:]
def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)
lines = [json.loads(l) for l in open(bodies)]
events = []
for n, b in enumerate(lines):
    for a, t, k in zip(b["aids"], b["timestamps"], b["event_types"]):
        events.append({"session": f"p{n}", "aid": a, "ts": t, "type": k})
for i in range(0, len(events), 1000):
    call("POST", "/events", {"events": events[i:i + 1000]})
with open(by_session, "w") as s, open(stateless, "w") as p:
    for n, b in enumerate(lines):
        held = call("GET", f"/sessions/p{n}")
        rest = {k: b[k] for k in ("type", "k") if k in b}
        s.write(json.dumps({"session": f"p{n}", **rest}) + "\n")
        p.write(json.dumps({"aids": held["aids"], "timestamps": held["timestamps"],
                            "event_types": held["event_types"], **rest}) + "\n")
PY
  read -r _ plain _ _ plain_p99 _ _ <<<"$(wrk_predict "$work/stateless")"
  read -r _ by_id _ _ by_id_p99 errors _ <<<"$(wrk_predict "$work/by-session")"
  row "$store: POST /predict, 30 events in the body (req/s)" "$plain" "$plain_p99"
  row "$store: POST /predict by session id, 30 stored (req/s)" "$by_id" "$by_id_p99"
  row "$store:   ratio by session / stateless" "$(echo "scale=3; $by_id / $plain" | bc)" ""
  [ "$errors" = 0 ] || echo "live-bench: $errors errors" >&2
  kill "$server"; wait "$server" 2>/dev/null; server=""
  stop_redis
done

start_server --model-dir models/default
base=$(rss_mib)
while [ "$(metric otto_live_events)" -lt 30000000 ]; do
  wrk_events 1000 500000 10 >/dev/null
done
row "RSS, model loaded, no session (MiB)" "$base" ""
row "RSS, $(metric otto_live_sessions) sessions x 30 events (MiB)" "$(rss_mib)" ""
if [ "$soak" -gt 0 ]; then
  # A fresh server, so the soak sees the stream alone: a minute of it fills the store to its
  # cap, then RSS is sampled every 10 s while the stream goes on.
  kill "$server"; wait "$server" 2>/dev/null
  start_server --model-dir models/default
  wrk_events 100 0 60 30 >/dev/null
  first=""; peak=0; last=0
  for _ in $(seq $((soak / 10))); do
    wrk_events 100 0 10 30 >/dev/null
    last=$(rss_mib); [ -z "$first" ] && first=$last; [ "$last" -gt "$peak" ] && peak=$last
  done
  row "soak ${soak} s of new 30-event visitors: RSS first / last / peak (MiB)" "$first / $last / $peak" ""
  row "  sessions held / evicted" "$(metric otto_live_sessions) / $(metric otto_live_sessions_evicted_total)" ""
fi
