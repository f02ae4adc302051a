#!/usr/bin/env bash
# Parity of the Spark co-visitation job with `otto-rec build-index`, on a real Spark
# standalone cluster on loopback (a master and two workers), then a timing table.
#
#   scripts/spark-parity.sh [-s SESSIONS] [-i EVENTS] [-p PARTS] [-m WORKER_MEMORY]
#                           [-q SHUFFLE_PARTITIONS] [-w WORK]
#
# 1. Installs what is missing: a JDK 17 (Debian's openjdk-17-jre-headless) and PySpark
#    with PyArrow in a virtualenv ($OTTO_SPARK_VENV, default ~/.cache/otto-rec/pyspark;
#    pip's download cache is reused between runs).
# 2. Events: EVENTS (a directory of Parquet files, or one Parquet file) when given;
#    otherwise the train events of a generated world of SESSIONS sessions (default 20000).
#    A single file is first written as PARTS (default 4) part files that split sessions
#    across files, as a cluster stores a data set.
# 3. Starts the master and two workers (1 core and WORKER_MEMORY each, default 2g; the
#    executors get all of it; SHUFFLE_PARTITIONS, default 16, for the job's joins) on
#    127.0.0.1, spark-submits scripts/spark/covisit.py, imports its output with
#    `build-index --from-tables`, builds the same index with `build-index --input`, and
#    compares the two bundles (scripts/spark/compare.py: identical top K per aid up to
#    float-sum ties within 1e-4 relative; equal item statistics and popular items).
# 4. Prints wall time and peak memory of both, stops everything it started, removes WORK
#    (default: a temporary directory) unless it was given, and exits 1 on any difference.
set -euo pipefail
cd "$(dirname "$0")/.."
sessions=20000; events=""; parts=4; worker_memory=2g; shuffle=16; work=""
while getopts "s:i:p:m:q:w:" opt; do
  case $opt in
    s) sessions=$OPTARG ;; i) events=$(realpath "$OPTARG") ;; p) parts=$OPTARG ;;
    m) worker_memory=$OPTARG ;; q) shuffle=$OPTARG ;; w) work=$OPTARG ;;
    *) sed -n '2,22p' "$0"; exit 1 ;;
  esac
done
source scripts/release-bin.sh
set +e
say() { echo "spark-parity: $*" >&2; }

if ! command -v java >/dev/null; then
  say "installing openjdk-17-jre-headless"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null \
    || { say "could not install a JDK"; exit 1; }
fi
venv=${OTTO_SPARK_VENV:-$HOME/.cache/otto-rec/pyspark}
if ! "$venv/bin/python" -c 'import pyspark, pyarrow' 2>/dev/null; then
  say "installing PySpark and PyArrow into $venv"
  python3 -m venv "$venv" && "$venv/bin/pip" install --quiet pyspark pyarrow \
    || { say "could not install PySpark"; exit 1; }
fi
export PATH="$venv/bin:$PATH" PYSPARK_PYTHON="$venv/bin/python" SPARK_LOCAL_IP=127.0.0.1

keep_work=1
if [ -z "$work" ]; then work=$(mktemp -d); keep_work=0; fi
mkdir -p "$work"; work=$(realpath "$work")
export SPARK_LOG_DIR="$work/logs" SPARK_WORKER_DIR="$work/worker"
pids=()
sampler=""
stop_all() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  [ "$keep_work" = 0 ] && rm -rf "$work"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

if [ -z "$events" ]; then
  say "generating a world of $sessions sessions"
  "$bin" generate --out "$work/world" --sessions "$sessions" --seed 17 2>/dev/null || exit 1
  "$bin" convert --input "$work/world/train.jsonl" --output "$work/world/train.parquet" 2>/dev/null || exit 1
  events="$work/world/train.parquet"
fi
if [ -f "$events" ]; then
  say "writing $events as $parts Parquet parts"
  "$venv/bin/python" - "$events" "$work/events" "$parts" <<'EOF' || exit 1
import os, sys
import pyarrow.parquet as pq
table = pq.read_table(sys.argv[1])
out, parts = sys.argv[2], int(sys.argv[3])
os.makedirs(out)
n = table.num_rows
for i in range(parts):
    lo, hi = i * n // parts, (i + 1) * n // parts
    pq.write_table(table.slice(lo, hi - lo), os.path.join(out, f"part-{i:05d}.parquet"))
EOF
  events="$work/events"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
registered() { grep -c 'Successfully registered with master' "$work"/worker?.log 2>/dev/null | awk -F: '{s+=$2} END {print s+0}'; }
# Starts a master and two workers on fresh ports and waits up to 3 minutes for both workers
# to register (a JVM's first start on a busy 2-core machine can take over a minute). A
# cluster that does not come up is stopped, its logs shown, and started once more on new
# ports (a port taken between choosing it and binding it is the usual cause).
start_cluster() {
  local attempt=$1
  master_port=$(free_port)
  master="spark://127.0.0.1:$master_port"
  spark-class org.apache.spark.deploy.master.Master --host 127.0.0.1 --port "$master_port" \
    --webui-port "$(free_port)" >"$work/master.log" 2>&1 &
  cluster=($!)
  for i in 1 2; do
    spark-class org.apache.spark.deploy.worker.Worker "$master" --host 127.0.0.1 --cores 1 \
      --memory "$worker_memory" --webui-port "$(free_port)" --work-dir "$work/worker$i" \
      >"$work/worker$i.log" 2>&1 &
    cluster+=($!)
  done
  pids+=("${cluster[@]}")
  for _ in $(seq 360); do
    [ "$(registered)" = 2 ] && return 0
    for p in "${cluster[@]}"; do kill -0 "$p" 2>/dev/null || break 2; done
    sleep 0.5
  done
  say "the cluster did not start (attempt $attempt); the end of each log:"
  for f in "$work"/master.log "$work"/worker?.log; do echo "--- $f" >&2; tail -n 15 "$f" >&2; done
  for p in "${cluster[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${cluster[@]}"; do wait "$p" 2>/dev/null; done
  return 1
}
start_cluster 1 || start_cluster 2 || { say "giving up: the Spark cluster did not start twice"; exit 1; }
say "cluster up: $master, 2 workers"

# Peak memory of the Spark side: the sum of the resident sets of every JVM and Python
# process of the cluster and the job (master, workers, driver, executors), sampled.
spark_rss() { ps -eo rss=,args= | awk '/java|python/ && /spark|pyspark/ && !/awk/ {s+=$1} END {print s+0}'; }
( peak=0; while :; do r=$(spark_rss); [ "$r" -gt "$peak" ] && peak=$r && echo "$peak" >"$work/peak"; sleep 0.2; done ) &
sampler=$!
idle=$(spark_rss)
start=$(date +%s%N)
spark-submit --master "$master" --conf spark.ui.enabled=false --executor-memory "$worker_memory" \
  --conf spark.sql.shuffle.partitions="$shuffle" \
  scripts/spark/covisit.py --input "$events" --out "$work/tables" >"$work/job.log" 2>&1
rc=$?
spark_s=$(awk -v ns=$(( $(date +%s%N) - start )) 'BEGIN {printf "%.1f", ns / 1e9}')
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null; sampler=""
grep '^covisit:' "$work/job.log" >&2
[ "$rc" = 0 ] || { say "the Spark job failed ($rc); its log:"; tail -30 "$work/job.log" >&2; exit 1; }

"$bin" build-index --from-tables "$work/tables" --model-dir "$work/spark-bundle" 2>"$work/import.log" \
  || { cat "$work/import.log" >&2; exit 1; }
/usr/bin/time -f '%e %M' -o "$work/rust.time" "$bin" build-index --input "$events" --model-dir "$work/rust-bundle" 2>"$work/rust.log" \
  || { cat "$work/rust.log" >&2; exit 1; }
read -r rust_s rust_kb <"$work/rust.time"

"$venv/bin/python" scripts/spark/compare.py "$work/rust-bundle" "$work/spark-bundle"
parity=$?
summary=$(grep -o '[0-9]* sessions, [0-9]* events' "$work/rust.log" | head -1)
echo
echo "events: $events ($summary)"
printf '%-40s %10s %14s\n' "build" "wall s" "peak RSS MiB"
printf '%-40s %10.1f %14.0f\n' "Spark job, standalone, 2 workers" "$spark_s" "$(( $(cat "$work/peak") / 1024 ))"
printf '%-40s %10s %14.0f\n' "  (cluster idle before the job)" "" "$(( idle / 1024 ))"
printf '%-40s %10.1f %14.0f\n' "otto-rec build-index" "$rust_s" "$(( rust_kb / 1024 ))"
[ "$parity" = 0 ] && echo "parity: identical up to float-sum ties" || echo "parity: DIFFERENT"
exit "$parity"
