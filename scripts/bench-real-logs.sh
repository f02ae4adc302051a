#!/usr/bin/env bash
# Real-log benchmarks (BENCHMARKS.md, "Real logs"), printed as tables:
#
# 1. `convert --from yoochoose` on a generated file in yoochoose-clicks.dat's layout and size
#    (33,003,944 lines unless -n): events/s and peak RSS, median of -r rounds;
# 2. `build-index` peak RSS on a generated OTTO world (-s sessions) against the same world
#    with its aids made sparse (aid -> 4294967295 - 7·aid), alternating, median of -r rounds.
#
#   bash scripts/bench-real-logs.sh [-n LINES] [-s SESSIONS] [-r ROUNDS] [-k]   (-k: keep WORK)
# Environment: BIN (default target/release/otto-rec, built when missing), WORK (scratch dir).
set -euo pipefail
cd "$(dirname "$0")/.."
lines=33003944 sessions=300000 rounds=3 keep=0
while getopts "n:s:r:k" opt; do
  case $opt in
    n) lines=$OPTARG ;; s) sessions=$OPTARG ;; r) rounds=$OPTARG ;; k) keep=1 ;;
    *) echo "usage: $0 [-n LINES] [-s SESSIONS] [-r ROUNDS] [-k]" >&2; exit 1 ;;
  esac
done
BIN=${BIN:-target/release/otto-rec}
if [ ! -x "$BIN" ]; then source scripts/deps.sh; cargo build --release --quiet; fi
[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"
[ "$keep" = 1 ] || trap 'rm -rf "$WORK"' EXIT

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
measure() { # command... -> "seconds max_rss_kib" on stdout (the command's own output dropped)
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >/dev/null 2>&1 || { cat "$WORK/time" >&2; exit 1; }
  tail -n 1 "$WORK/time"
}

# 1. convert --from yoochoose
clicks="$WORK/yoochoose-clicks.dat"
if [ ! -s "$clicks" ]; then
  echo "generating $lines lines in yoochoose-clicks.dat's layout..." >&2
  # Sessions of 1-8 clicks, contiguous and in time order as in the real file, over six
  # months from 2014-04-01, on 52,739 items with ids near 214.5 million.
  perl -e '
    my ($n, $s, $t) = ($ARGV[0], 0, 1396310400);
    my @days; my $seed = 7;
    sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed % $_[0]; }
    while ($n > 0) {
      $s++; $t += 1 + rnd(3); my $k = 1 + rnd(8); $k = $n if $k > $n;
      for my $i (0 .. $k - 1) {
        my $e = $t + 40 * $i; my $d = int(($e - 1396310400) / 86400);
        $days[$d] //= do { my @g = gmtime($e); sprintf("%04d-%02d-%02d", $g[5] + 1900, $g[4] + 1, $g[3]) };
        my $x = $e % 86400;
        printf "%d,%sT%02d:%02d:%02d.%03dZ,%d,0\n", $s, $days[$d], $x / 3600, ($x / 60) % 60, $x % 60,
          rnd(1000), 214500000 + rnd(52739) * 7;
      }
      $n -= $k;
    }' "$lines" > "$clicks.tmp"
  mv "$clicks.tmp" "$clicks"
fi
events=$(wc -l < "$clicks")
conv=()
for r in $(seq "$rounds"); do
  conv+=("$(measure "$BIN" convert --from yoochoose --input "$clicks" --output "$WORK/yoochoose.parquet")")
done
conv_s=$(printf '%s\n' "${conv[@]}" | awk '{print $1}' | median)
conv_kib=$(printf '%s\n' "${conv[@]}" | awk '{print $2}' | median)
echo
echo "convert --from yoochoose: $events events, $(du -h "$clicks" | cut -f1), median of $rounds rounds"
printf '%-12s %12s %14s %12s\n' output seconds events/s "peak RSS"
awk -v e="$events" -v s="$conv_s" -v k="$conv_kib" \
  'BEGIN { printf "%-12s %12.2f %14.0f %9.2f GiB\n", "parquet", s, e / s, k / 1048576 }'

# 2. build-index memory, sparse ids against dense ones
dense="$WORK/world/train.jsonl" sparse="$WORK/sparse.jsonl"
if [ ! -s "$sparse" ]; then
  "$BIN" generate --out "$WORK/world" --sessions "$sessions" --seed 5 2>/dev/null
  perl -pe 's/"aid":(\d+)/"\"aid\":" . (4294967295 - 7 * $1)/ge' "$dense" > "$sparse"
fi
d=() s=()
for r in $(seq "$rounds"); do
  rm -rf "$WORK/m-dense" "$WORK/m-sparse"
  d+=("$(measure "$BIN" build-index --input "$dense" --model-dir "$WORK/m-dense")")
  s+=("$(measure "$BIN" build-index --input "$sparse" --model-dir "$WORK/m-sparse")")
done
echo
echo "build-index on a generated world ($sessions sessions, $(wc -c < "$dense" | awk '{printf "%.0f MB", $1/1e6}')), median of $rounds rounds"
printf '%-22s %10s %12s\n' aids seconds "peak RSS"
for name in dense sparse; do
  if [ $name = dense ]; then set -- "${d[@]}"; else set -- "${s[@]}"; fi
  sec=$(printf '%s\n' "$@" | awk '{print $1}' | median)
  kib=$(printf '%s\n' "$@" | awk '{print $2}' | median)
  printf '%-22s %10.2f %9.1f MiB\n' "$name" "$sec" "$(echo "$kib" | awk '{print $1/1024}')"
  eval "${name}_kib=$kib"
done
awk -v d="$dense_kib" -v s="$sparse_kib" 'BEGIN { printf "sparse / dense peak RSS: %.3f\n", s / d }'
