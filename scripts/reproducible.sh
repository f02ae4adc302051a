#!/usr/bin/env bash
# Same data, same seed, same bundle: runs `build-index` and `train` on one input with
# RAYON_NUM_THREADS set to each of THREADS in turn, each into a fresh bundle, and prints
# per thread count the two steps' wall times, peak memory and a checksum of the bundle
# (every file; the manifest without its creation time), then whether all are identical.
#
#   bash scripts/reproducible.sh INPUT [-- TRAIN_FLAGS...]
#
# INPUT: a training log (.jsonl or .parquet), e.g. a generated world's train.jsonl or the
# train.jsonl that scripts/public-benchmark.sh writes into its WORK directory.
# Environment: BIN (default: the working tree, built in release), THREADS (default
# "1 2 4"), WORK (default: a fresh temporary directory, removed at exit), BUILD_FLAGS
# (to build-index, split on spaces). Exits 1 when the bundles differ.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -ge 1 ] || { sed -n '2,13p' "$0" >&2; exit 1; }
input=$1; shift
if [ $# -gt 0 ]; then [ "$1" = "--" ] || { echo "reproducible: flags for train go after --" >&2; exit 1; }; shift; fi
[ -f "$input" ] || { echo "reproducible: $input not found" >&2; exit 1; }
source scripts/release-bin.sh # BIN, or the working tree built (training included)
if [ -n "${WORK:-}" ]; then
  mkdir -p "$WORK"
else
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
fi

timed() { # log, command...: runs it under /usr/bin/time, appends "seconds GiB" to log
  local log=$1; shift
  /usr/bin/time -f '%e %M' -o "$log.time" "$@" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  awk '{ printf "%s %.2f\n", $1, $2 / 1048576 }' "$log.time"
}

digest() { # bundle → one checksum of every file, the manifest without created_at
  local model=$1
  (
    cd "$model"
    for f in $(ls | sort); do
      if [ "$f" = manifest.json ]; then
        python3 -c 'import json,sys; m=json.load(open("manifest.json")); m.pop("created_at"); print(json.dumps(m, sort_keys=True))' | sha256sum | sed "s/-/$f/"
      else
        sha256sum "$f"
      fi
    done
  ) | tee "$model.files" | sha256sum | cut -c1-16
}

printf '%-8s %14s %14s %10s %10s  %s\n' threads "build-index s" "train s" "build GiB" "train GiB" bundle
first=""; same=1
for t in ${THREADS:-1 2 4}; do
  model=$WORK/model-$t
  rm -rf "$model"
  # shellcheck disable=SC2086 # BUILD_FLAGS is a list of flags
  read -r bs bm < <(RAYON_NUM_THREADS=$t timed "$WORK/build-$t.log" \
    "$bin" build-index --input "$input" --model-dir "$model" ${BUILD_FLAGS:-})
  read -r ts tm < <(RAYON_NUM_THREADS=$t timed "$WORK/train-$t.log" \
    "$bin" train --input "$input" --model-dir "$model" "$@")
  sum=$(digest "$model")
  printf '%-8s %14s %14s %10s %10s  %s\n' "$t" "$bs" "$ts" "$bm" "$tm" "$sum"
  if [ -z "$first" ]; then
    first=$sum; first_model=$model; first_threads=$t
  elif [ "$sum" != "$first" ]; then
    same=0
    echo "  differs from $first_threads thread(s) in:" $(diff "$first_model.files" "$model.files" | awk '/^>/ {print $3}')
  fi
done
if [ $same = 1 ]; then echo "identical: yes"; else echo "identical: no"; exit 1; fi
