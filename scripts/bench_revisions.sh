#!/usr/bin/env bash
# The hot paths of two otto-rec binaries side by side in one run: build-index on a world's
# train file, predict with --heuristic and with rankers on its test file, each run
# alternately RUNS times; prints the median wall time and peak RSS of each.
#
#   scripts/bench_revisions.sh OLD_BIN NEW_BIN WORLD_DIR [RUNS]
#
# WORLD_DIR holds train.parquet (or train.jsonl) and test.parquet (or test.jsonl) of a
# generated world; the rankers are trained once by OLD_BIN, so both score the same models.
set -euo pipefail
old=$(realpath "$1"); new=$(realpath "$2"); world=$(realpath "$3"); runs=${4:-3}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
pick() { [ -f "$world/$1.parquet" ] && echo "$world/$1.parquet" || echo "$world/$1.jsonl"; }
train=$(pick train); test=$(pick test)
OTTO_LOG=warn "$old" build-index --input "$train" --model-dir "$work/model" 2>/dev/null
OTTO_LOG=warn "$old" train --input "$train" --model-dir "$work/model" >/dev/null 2>&1
measure() { # binary, args...: appends "wall rss_kib" to $work/<label>
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/t" env OTTO_LOG=warn "$@" >/dev/null 2>&1
  cat "$work/t" >>"$work/$label"
}
for _ in $(seq "$runs"); do
  for v in old new; do
    bin=${!v}
    measure "$v-index" "$bin" build-index --input "$train" --model-dir "$work/index-$v"
    measure "$v-heuristic" "$bin" predict --input "$test" --model-dir "$work/model" --output "$work/h.csv" --heuristic
    measure "$v-rankers" "$bin" predict --input "$test" --model-dir "$work/model" --output "$work/r.csv"
  done
done
sessions=$(OTTO_LOG=warn "$new" stats --input "$test" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["sessions"])')
python3 - "$work" "$sessions" <<'PY'
import sys, statistics
work, sessions = sys.argv[1], int(sys.argv[2])
def med(label):
    rows = [tuple(map(float, l.split())) for l in open(f"{work}/{label}")]
    return statistics.median(r[0] for r in rows), max(r[1] for r in rows) / 1048576
print(f"{'step':<22} {'old s':>8} {'new s':>8} {'new/old':>8} {'old GiB':>8} {'new GiB':>8}")
for step in ["index", "heuristic", "rankers"]:
    (o, orss), (n, nrss) = med(f"old-{step}"), med(f"new-{step}")
    extra = f"   ({sessions / o:,.0f} vs {sessions / n:,.0f} sessions/s)" if step != "index" else ""
    print(f"{step:<22} {o:8.2f} {n:8.2f} {n / o:8.3f} {orss:8.2f} {nrss:8.2f}{extra}")
PY
