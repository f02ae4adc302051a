#!/usr/bin/env bash
# Batch predict throughput of two otto-rec binaries, run side by side: each round starts
# both at once, one core each (one scoring thread each), and swaps their cores the next
# round. On a shared machine whose load swings by ±15 % from one minute to the next, both
# runs of a round see the same swings, so their ratio is steadier than runs taken in turn.
#
#   [ROUNDS=N] scripts/predict-compare.sh OLD_BIN NEW_BIN MODEL_DIR INPUT
#
# Prints, per round, each binary's sessions/s and NEW/OLD, then the median ratio; stops
# with an error if the two submissions differ.
set -euo pipefail
[ $# -eq 4 ] || { sed -n '2,10p' "$0"; exit 1; }
old=$1 new=$2 model=$3 input=$4
[ "$(nproc)" -ge 2 ] || { echo "needs two cores" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rate() { grep -o '([0-9]* sessions/s' "$1" | tr -dc 0-9; }
printf '%-6s %14s %14s %8s\n' round 'old sess/s' 'new sess/s' new/old
ratios=()
for round in $(seq "${ROUNDS:-4}"); do
  cores=(0 1)
  [ $((round % 2)) -eq 0 ] && cores=(1 0)
  RAYON_NUM_THREADS=1 taskset -c "${cores[0]}" "$old" predict --input "$input" \
    --model-dir "$model" --output "$work/old.csv" 2>"$work/old.log" &
  first=$!
  RAYON_NUM_THREADS=1 taskset -c "${cores[1]}" "$new" predict --input "$input" \
    --model-dir "$model" --output "$work/new.csv" 2>"$work/new.log" &
  second=$!
  wait "$first" || { cat "$work/old.log" >&2; exit 1; }
  wait "$second" || { cat "$work/new.log" >&2; exit 1; }
  cmp -s "$work/old.csv" "$work/new.csv" || { echo "round $round: the submissions differ" >&2; exit 1; }
  a=$(rate "$work/old.log") b=$(rate "$work/new.log")
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')
  ratios+=("$ratio")
  printf '%-6s %14s %14s %8s\n' "$round" "$a" "$b" "$ratio"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ r[NR] = $1 } END {
  m = NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
  printf "median new/old over %d rounds: %.3f\n", NR, m }'
