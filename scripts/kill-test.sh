#!/usr/bin/env bash
# Kills rebuilds of a serving bundle at random moments and checks that the model directory
# always holds one complete, loadable bundle (the old one or the new one, never neither).
#
#   scripts/kill-test.sh [-n KILLS] [-s SESSIONS] [-w WORK_DIR]
#
# Defaults: 12 kills, a 600,000-session world, work dir target/kill-test. Each round starts
# `build-index` (alternating with `train`) into the existing bundle, sends SIGKILL after a
# random delay within the build's duration, then loads the bundle with `predict` on a few
# sessions. Prints one line per round; exits 1 if any round leaves an unloadable bundle.
set -euo pipefail
cd "$(dirname "$0")/.."
kills=12; sessions=600000; work=target/kill-test
while getopts "n:s:w:" opt; do
  case $opt in
    n) kills=$OPTARG ;; s) sessions=$OPTARG ;; w) work=$OPTARG ;;
    *) sed -n '2,10p' "$0"; exit 1 ;;
  esac
done
source scripts/release-bin.sh
mkdir -p "$work"
world=$work/world-$sessions
[ -f "$world/train.jsonl" ] || "$bin" generate --out "$world" --sessions "$sessions" --seed 9 2>/dev/null
head -n 50 "$world/test.jsonl" >"$work/probe.jsonl"
model=$work/model
rm -rf "$model"
start=$(date +%s.%N)
"$bin" build-index --input "$world/train.jsonl" --model-dir "$model" 2>/dev/null
build_ms=$(echo "($(date +%s.%N) - $start) * 1000 / 1" | bc)
echo "one build-index: ${build_ms} ms"
failures=0
for round in $(seq 1 "$kills"); do
  delay_ms=$(( RANDOM % build_ms ))
  if (( round % 3 == 0 )); then
    cmd=(train --input "$world/train.jsonl" --model-dir "$model" --max-trees 5)
  else
    cmd=(build-index --input "$world/train.jsonl" --model-dir "$model")
  fi
  "$bin" "${cmd[@]}" >/dev/null 2>&1 &
  pid=$!
  sleep "$(echo "$delay_ms / 1000" | bc -l)"
  kill -9 "$pid" 2>/dev/null && outcome=killed || outcome=finished
  wait "$pid" 2>/dev/null || true
  if "$bin" predict --input "$work/probe.jsonl" --model-dir "$model" --output "$work/probe.csv" 2>"$work/err.txt"; then
    state="loads"
  else
    state="UNLOADABLE: $(tail -1 "$work/err.txt")"
    failures=$((failures + 1))
  fi
  printf 'round %2d: %-11s %-8s after %5d ms: %s\n' "$round" "${cmd[0]}" "$outcome" "$delay_ms" "$state"
done
leftovers=$(find "$(dirname "$model")" -maxdepth 1 -name ".$(basename "$model").staging-*" | wc -l)
echo "$kills kills, $failures unloadable bundles, $leftovers staging directories left by killed builds"
[ "$failures" -eq 0 ]
