#!/usr/bin/env bash
# build-index at several scales, and (at the smallest) the same tables by a plain polars
# self-join, side by side in one run. Prints one table row per measurement.
#
#   scripts/bench_index.sh [EVENTS_MILLIONS ...]      (default: 10 50 216)
#
# For each size it generates a world (seed 1; ~13.3 train events per generated session),
# converts train.jsonl to Parquet once, and times `build-index` on the Parquet file with
# /usr/bin/time (wall clock, peak RSS). Needs ~60 GB of disk for 216M events.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${*:-10 50 216}
cargo build --release --quiet
bin=$PWD/target/release/otto-rec
work=${BENCH_DIR:-target/bench-index}
mkdir -p "$work"
python3 -c 'import polars' 2>/dev/null || python3 -m pip install --quiet polars
measure() { # label, command...: prints "label wall_s peak_rss_gib"
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" >/dev/null 2>"$work/stderr.txt" || { cat "$work/stderr.txt" >&2; return 1; }
  read -r wall rss <"$work/time.txt"
  printf '%-38s %10.1f %12.2f\n' "$label" "$wall" "$(echo "$rss / 1048576" | bc -l)"
}
printf '%-38s %10s %12s\n' step 'wall s' 'peak RSS GiB'
for m in $sizes; do
  dir=$work/world-${m}m
  sessions=$(( m * 1000000 * 10 / 133 ))
  items=$(( sessions / 7 )); [ "$m" -ge 216 ] && items=1855603
  if [ ! -f "$dir/train.parquet" ]; then
    measure "generate ${m}M (JSONL)" "$bin" generate --out "$dir" --sessions "$sessions" --items "$items" --seed 1
    measure "convert ${m}M JSONL -> Parquet" "$bin" convert --input "$dir/train.jsonl" --output "$dir/train.parquet"
  fi
  events=$("$bin" stats --input "$dir/train.parquet" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"])')
  echo "# ${m}M world: $events train events"
  measure "read ${m}M JSONL (stats)" "$bin" stats --input "$dir/train.jsonl"
  measure "read ${m}M Parquet (stats)" "$bin" stats --input "$dir/train.parquet"
  measure "build-index ${m}M" "$bin" build-index --input "$dir/train.parquet" --model-dir "$dir/model"
  if [ "$m" = "$(echo $sizes | awk '{print $1}')" ]; then
    measure "polars self-join ${m}M" python3 scripts/selfjoin_baseline.py "$dir/train.parquet" "$dir/selfjoin"
    python3 - "$dir" <<'PY'
import sys, polars as pl
d = sys.argv[1]
for name in ["clicks", "carts_orders", "buy2buy"]:
    a = pl.read_parquet(f"{d}/model/covisit_{name}.parquet")
    b = pl.read_parquet(f"{d}/selfjoin/covisit_{name}.parquet").select(pl.col("aid_x").cast(pl.Int32), pl.col("aid_y").cast(pl.Int32), "weight")
    same = a.height == b.height and a["aid_x"].equals(b["aid_x"]) and a["aid_y"].equals(b["aid_y"])
    diff = (a["weight"] - b["weight"]).abs().max() if a.height == b.height else float("nan")
    print(f"# {name}: {a.height} rows, same rows as self-join: {same}, max weight difference {diff}")
PY
  fi
done
