#!/usr/bin/env bash
# Serve replicas behind nginx, on loopback: N `otto-rec serve` processes and an nginx that
# balances /predict over them (least connections; a request that meets a dead or draining
# replica is retried on the next one: /predict is a pure function, safe to resend).
#
#   scripts/replicas.sh [-p PORT] [-n REPLICAS] [-m MODEL_DIR] [-k] [-r]
#
# -r: the replicas keep live sessions in one Redis server that the script starts on a free
# loopback port (`serve --session-store redis://…`; Debian's redis-server, installed when
# missing) and stops by its process id. It first checks that they share them: the events of
# 300 sessions are sent (POST /events) through replica 1, recommendations are asked by
# session id of replica 2 and compared with replica 1's stateless answer for the same
# events; it prints how many are equal and exits 1 unless all are. Then it serves (or runs
# the kill test) as without -r. POST /events is safe to resend: a resent event is not kept
# twice.
#
# Defaults: nginx on 127.0.0.1:8080, 2 replicas, models/default. Without -k it runs until
# interrupted (Ctrl-C or SIGTERM), then stops everything it started. With -k it runs the
# kill test instead and exits: a 30 s wrk load through nginx (8 connections, sessions of
# the world models/default was built from); at 10 s replica 1 is killed (SIGKILL), at 20 s
# it is started again; prints requests, failures (non-2xx and socket errors) and the time
# from the restart until replica 1 answers traffic again; exits 1 on any failure.
# Open-source nginx checks upstreams passively (a failed connection takes a replica out
# for fail_timeout); /readyz is for orchestrators with active probes (README).
set -euo pipefail
cd "$(dirname "$0")/.."
port=8080; replicas=2; model=models/default; kill_test=0; redis=0
while getopts "p:n:m:kr" opt; do
  case $opt in
    p) port=$OPTARG ;; n) replicas=$OPTARG ;; m) model=$OPTARG ;; k) kill_test=1 ;; r) redis=1 ;;
    *) sed -n '2,24p' "$0"; exit 1 ;;
  esac
done
source scripts/release-bin.sh
source scripts/local-server.sh
set +e
need nginx wrk
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
pids=()
redis_pid=""
stop_all() {
  [ -f "$work/nginx.pid" ] && "$nginx_bin" -p "$work" -c "$work/nginx.conf" -s quit 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  sleep 0.5
  rm -rf "$work"
}
trap stop_all EXIT
trap 'exit 0' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
store=()
if [ "$redis" = 1 ]; then
  need redis-server
  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  store=(--session-store "redis://127.0.0.1:$redis_port")
  echo "replicas: live sessions in Redis on 127.0.0.1:$redis_port (pid $redis_pid)" >&2
fi
start_replica() { # index port
  "$bin" serve --model-dir "$model" --host 127.0.0.1 --port "$2" --workers 1 "${store[@]}" >"$work/replica$1.out" 2>"$work/replica$1.err" &
  pids[$1]=$!
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$2/readyz" >/dev/null && return 0; sleep 0.05; done
  echo "replicas: replica $1 did not become ready" >&2; cat "$work/replica$1.err" >&2; return 1
}

ports=()
upstreams=""
for i in $(seq 1 "$replicas"); do
  ports[$i]=$(free_port)
  start_replica "$i" "${ports[$i]}" || exit 1
  upstreams+="    server 127.0.0.1:${ports[$i]} max_fails=1 fail_timeout=2s;"$'\n'
done
mkdir -p "$work/logs"
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy;
  upstream otto {
    least_conn;
$upstreams    keepalive 64;
  }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://otto;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_connect_timeout 1s;
      proxy_next_upstream error timeout http_502 http_503 non_idempotent;
      proxy_next_upstream_tries $replicas;
    }
  }
}
EOF
"$nginx_bin" -p "$work" -c "$work/nginx.conf" || { cat "$work/logs/error.log" >&2; exit 1; }
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.05; done
echo "replicas: nginx on http://127.0.0.1:$port -> ${ports[*]}" >&2

if [ "$redis" = 1 ]; then
  world=target/default-world
  [ -f "$world/test.jsonl" ] || "$bin" generate --out "$world" --sessions 60000 --seed 42 2>/dev/null
  python3 - "$world/test.jsonl" "http://127.0.0.1:${ports[1]}" "http://127.0.0.1:${ports[2]}" <<'PY' || exit 1
import json, sys, urllib.request
path, one, two = sys.argv[1:]
def call(url, method, route, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + route, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)
codes = {"clicks": 0, "carts": 1, "orders": 2}
sessions = [json.loads(line) for _, line in zip(range(300), open(path))]
events = [{"session": f"shopper-{s['session']}", "aid": e["aid"], "ts": e["ts"] // 1000,
           "type": e["type"]} for s in sessions for e in s["events"]]
for i in range(0, len(events), 500):
    call(one, "POST", "/events", {"events": events[i:i + 500]})
equal = 0
for s in sessions:
    sid = f"shopper-{s['session']}"
    held = call(one, "GET", f"/sessions/{sid}")
    by_id = call(two, "POST", "/predict", {"session": sid, "type": "carts"})
    plain = call(one, "POST", "/predict", {"aids": held["aids"], "timestamps": held["timestamps"],
                                           "event_types": held["event_types"], "type": "carts"})
    equal += by_id["recommendation"] == plain["recommendation"] and by_id["scores"] == plain["scores"]
print(f"replicas: events of {len(sessions)} sessions sent through replica 1; replica 2's "
      f"recommendations by session id equal replica 1's stateless ones for {equal} of {len(sessions)}",
      file=sys.stderr)
sys.exit(0 if equal == len(sessions) else 1)
PY
fi

if [ "$kill_test" = 0 ]; then
  while :; do sleep 1; done
fi

# The kill test.
world=target/default-world
[ -f "$world/test.jsonl" ] || "$bin" generate --out "$world" --sessions 60000 --seed 42 2>/dev/null
python3 scripts/make_requests.py "$world/test.jsonl" "$work/bodies" mixed 20000 2>/dev/null
served() { curl -s "http://127.0.0.1:${ports[1]}/metrics" | awk '/^otto_requests_total\{route="\/predict",status="200"\}/ {print $2}'; }
BODIES_FILE=$work/bodies wrk -t1 -c8 -d30s --timeout 5s --latency -s scripts/loadtest.lua \
  "http://127.0.0.1:$port" >"$work/wrk" 2>&1 &
load=$!
sleep 10
kill -9 "${pids[1]}"; wait "${pids[1]}" 2>/dev/null
echo "replicas: killed replica 1 at 10 s" >&2
sleep 10
restart=$(date +%s.%N)
start_replica 1 "${ports[1]}" || exit 1
before=$(served); before=${before:-0}
recovered=""
while kill -0 "$load" 2>/dev/null; do
  now=$(served); now=${now:-0}
  if [ "${now%.*}" -gt "${before%.*}" ]; then
    recovered=$(echo "$(date +%s.%N) - $restart" | bc); break
  fi
  sleep 0.1
done
wait "$load"
line=$(grep '^RESULT' "$work/wrk") || { cat "$work/wrk" >&2; exit 1; }
read -r _ rps p50 _ p99 errors requests <<<"$line"
printf '%-10s %10s %9s %9s %9s %9s %22s\n' replicas 'req/s' 'p50 ms' 'p99 ms' requests failed 'recovered after (s)'
printf '%-10s %10s %9s %9s %9s %9s %22s\n' "$replicas" "$rps" "$p50" "$p99" "$requests" "$errors" "${recovered:-never}"
[ "$errors" -eq 0 ] && [ -n "$recovered" ]
