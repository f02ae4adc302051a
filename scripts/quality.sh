#!/usr/bin/env bash
# Ranking quality on generated worlds, the competition's flow end to end: for each seed,
# generate a world, index its four training weeks (build-index), train the rankers on a
# local split of them (train), score the fifth week (predict, rankers and --heuristic) and
# evaluate against its labels. Prints one row per world and strategy, then the margin.
#
#   scripts/quality.sh [-s "SEED ..."] [-n SESSIONS] [-w WORK_DIR] [-- extra train flags]
#
# Defaults: seeds "101 202" (worlds no setting was tuned on), 260000 sessions, work dir
# target/quality. Worlds are generated once and reused. BIN (environment) names a binary
# to measure instead of building the working tree; INDEX_FLAGS (environment) are passed to
# build-index (e.g. INDEX_FLAGS="--embeddings off").
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="101 202"; sessions=260000; work=target/quality
while getopts "s:n:w:" opt; do
  case $opt in
    s) seeds=$OPTARG ;; n) sessions=$OPTARG ;; w) work=$OPTARG ;;
    *) sed -n '2,10p' "$0"; exit 1 ;;
  esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
source scripts/release-bin.sh
mkdir -p "$work"
printf '%-6s %-10s %8s %8s %8s %8s   %s\n' seed strategy clicks carts orders total "train time"
for seed in $seeds; do
  world=$work/world-$seed-$sessions
  [ -f "$world/test.jsonl" ] || "$bin" generate --out "$world" --sessions "$sessions" --seed "$seed" 2>/dev/null
  model=$work/model-$seed-$sessions
  rm -rf "$model"
  "$bin" build-index --input "$world/train.jsonl" --model-dir "$model" ${INDEX_FLAGS:-} 2>/dev/null
  start=$(date +%s.%N)
  "$bin" train --input "$world/train.jsonl" --model-dir "$model" --seed "$seed" "$@" >"$work/train-$seed.txt" 2>"$work/train-$seed.log"
  seconds=$(echo "$(date +%s.%N) - $start" | bc)
  for strategy in heuristic ranker; do
    flag=""; [ $strategy = heuristic ] && flag=--heuristic
    "$bin" predict --input "$world/test.jsonl" --model-dir "$model" --output "$work/sub-$seed-$strategy.csv" $flag 2>/dev/null
    "$bin" evaluate --labels "$world/test_labels.jsonl" --submission "$work/sub-$seed-$strategy.csv" --json >"$work/eval-$seed-$strategy.json"
  done
  python3 - "$work" "$seed" "$seconds" <<'PY'
import json, sys
work, seed, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
r = {s: json.load(open(f"{work}/eval-{seed}-{s}.json")) for s in ["heuristic", "ranker"]}
keys = ["clicks", "carts", "orders", "total"]
for s in ["heuristic", "ranker"]:
    print(f"{seed:<6} {s:<10} " + " ".join(f"{r[s][k]:8.4f}" for k in keys) + (f"   {seconds:.0f} s" if s == "ranker" else ""))
print(f"{seed:<6} {'margin':<10} " + " ".join(f"{r['ranker'][k] - r['heuristic'][k]:+8.4f}" for k in keys))
PY
done
