#!/usr/bin/env bash
# The benchmark protocol of session-based recommendation on an SR-GNN-format split:
#
#   bash scripts/public-benchmark.sh DIR [-- TRAIN_FLAGS...]
#
# DIR holds all_train_seq.txt and test.txt (the pickles the SR-GNN, GCE-GNN and later
# repositories share). The split is converted to OTTO JSONL (every event a click), the index
# is built and the rankers trained on the train sessions only (a longer test prefix holds
# the answer of a shorter one, so fitting on test prefixes would leak), the next click of
# every test prefix is predicted, and HR@20 (= Recall@20, the papers' "P@20") and MRR@20
# are printed, for the rankers and the heuristic, beside the published figures.
#
# Environment: BIN (default: the working tree, built in release), WORK (a directory
# for the converted files and the bundle; default a fresh temporary one, removed at exit).
# BUILD_FLAGS (e.g. "--no-next-item") go to `build-index`, split on spaces. Flags after
# `--` go to `train`. The data are never copied into the project.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: bash scripts/public-benchmark.sh DIR [-- TRAIN_FLAGS...]" >&2; exit 1; }
[ $# -ge 1 ] || usage
data=$1; shift
if [ $# -gt 0 ]; then [ "$1" = "--" ] || usage; shift; fi
for f in all_train_seq.txt test.txt; do
  [ -f "$data/$f" ] || { echo "public-benchmark: $data/$f not found" >&2; exit 1; }
done

source scripts/release-bin.sh # BIN, or the working tree built (training included)
BIN=$bin
if [ -n "${WORK:-}" ]; then
  mkdir -p "$WORK"
else
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
fi

step() { # name, command...: runs it, adds its wall time and peak memory to $WORK/steps
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$WORK/step.time" "$@"
  awk -v n="$name" '{ printf "%-12s %6.1f s %6.2f GiB\n", n, $1, $2 / 1048576 }' "$WORK/step.time" >>"$WORK/steps"
}
: >"$WORK/steps"

step convert python3 scripts/srgnn_convert.py --train "$data/all_train_seq.txt" \
  --test "$data/test.txt" --out "$WORK"
rm -rf "$WORK/model"
# shellcheck disable=SC2086 # BUILD_FLAGS is a list of flags
step build-index "$BIN" build-index --input "$WORK/train.jsonl" --model-dir "$WORK/model" \
  ${BUILD_FLAGS:-} 2>/dev/null
step train "$BIN" train --input "$WORK/train.jsonl" --model-dir "$WORK/model" "$@" \
  > "$WORK/train-report.txt"
step predict "$BIN" predict --input "$WORK/test.jsonl" --model-dir "$WORK/model" \
  --output "$WORK/ranker.csv" 2>/dev/null
step heuristic "$BIN" predict --input "$WORK/test.jsonl" --model-dir "$WORK/model" \
  --output "$WORK/heuristic.csv" --heuristic 2>/dev/null
cat "$WORK/train-report.txt" "$WORK/steps" >&2

score() { # submission → "HR MRR" in %
  "$BIN" evaluate --labels "$WORK/test_labels.jsonl" --submission "$1" --json \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); print("%.2f %.2f" % (100*r["clicks"], 100*r["clicks_mrr"]))'
}
read -r hr mrr < <(score "$WORK/ranker.csv")
read -r hhr hmrr < <(score "$WORK/heuristic.csv")

name=$(basename "$(cd "$data" && pwd)")
prefixes=$(wc -l < "$WORK/test_labels.jsonl")
echo "split: $name ($prefixes test prefixes)"
printf '%-26s %7s %7s\n' model HR@20 MRR@20
printf '%-26s %7s %7s\n' "otto-rec (rankers)" "$hr" "$mrr"
printf '%-26s %7s %7s\n' "otto-rec (heuristic)" "$hhr" "$hmrr"
case "$name" in
  *diginetica*|*Diginetica*)
    echo "published on this split:"
    printf '%-26s %7s %7s\n' SGNN-HN 55.67 19.45 SR-GNN 50.73 17.59 NARM 49.70 16.17 \
      STAMP 45.64 14.32 Item-KNN 35.75 11.57 GRU4Rec 29.45 8.33
    ;;
esac
