#!/usr/bin/env bash
# Checks that two revisions of otto-rec recommend byte for byte the same: builds each in a
# temporary worktree (release, one shared target directory), runs `predict` with each on
# the same bundle and sessions (.jsonl lists with scores and a .csv submission; rankers and
# --heuristic), and sends the same POST /predict bodies to a `serve` of each. Prints one
# line per comparison; exits 1 on any difference.
#
#   scripts/compare-revisions.sh OLD_REV [NEW_REV] [MODEL_DIR] [SESSIONS.jsonl]
#
# NEW_REV defaults to the working tree as it is, MODEL_DIR to models/default, SESSIONS to
# fixtures/world/test.jsonl. OLD_BIN / NEW_BIN (environment) name binaries already built
# from the two revisions, to skip building. A refactoring that changes no behaviour must
# pass it.
set -euo pipefail
cd "$(dirname "$0")/.."
old_rev=${1:?usage: compare-revisions.sh OLD_REV [NEW_REV] [MODEL_DIR] [SESSIONS]}
new_rev=${2:-WORKTREE}
model=$(realpath "${3:-models/default}")
sessions=$(realpath "${4:-fixtures/world/test.jsonl}")
source scripts/deps.sh
work=$(mktemp -d)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target/compare}
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  git worktree remove --force "$work/old" 2>/dev/null || true
  git worktree remove --force "$work/new" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

build() { # rev, name: builds otto-rec at rev into $work/bin-name
  local rev=$1 name=$2 src
  if [ "$rev" = WORKTREE ]; then
    src=$PWD
  else
    git worktree add --quiet --detach "$work/$name" "$rev"
    src=$work/$name
  fi
  (cd "$src" && cargo build --release --quiet --bin otto-rec)
  cp "$CARGO_TARGET_DIR/release/otto-rec" "$work/bin-$name"
}
if [ -n "${OLD_BIN:-}" ]; then cp "$OLD_BIN" "$work/bin-old"; else build "$old_rev" old; fi
if [ -n "${NEW_BIN:-}" ]; then cp "$NEW_BIN" "$work/bin-new"; else build "$new_rev" new; fi

status=0
compare() { # label, file a, file b
  if cmp -s "$2" "$3"; then
    printf '%-44s identical (%s bytes)\n' "$1" "$(wc -c <"$2")"
  else
    printf '%-44s DIFFERENT\n' "$1"
    status=1
  fi
}
for flags in "" "--heuristic"; do
  for ext in jsonl csv; do
    for v in old new; do
      OTTO_LOG=warn "$work/bin-$v" predict --input "$sessions" --model-dir "$model" \
        --output "$work/$v.$ext" $flags 2>/dev/null
    done
    compare "predict ${flags:-(rankers)} .$ext" "$work/old.$ext" "$work/new.$ext"
  done
done

python3 scripts/make_requests.py "$sessions" "$work/bodies.txt" mixed 2000 2>/dev/null
for v in old new; do
  OTTO_LOG=warn "$work/bin-$v" serve --model-dir "$model" --port 0 --workers 1 >"$work/serve-$v.out" 2>/dev/null &
  pids+=($!)
done
for v in old new; do
  for _ in $(seq 100); do grep -q listening "$work/serve-$v.out" 2>/dev/null && break; sleep 0.1; done
done
python3 - "$work" <<'PY' || status=1
import sys, urllib.request, re
work = sys.argv[1]
def addr(v):
    return re.search(r"http://(\S+)", open(f"{work}/serve-{v}.out").read()).group(1)
old, new = addr("old"), addr("new")
bodies = open(f"{work}/bodies.txt").read().splitlines()
bodies += ['{"aids":[1],"timestamps":[1],"event_types":[9]}', '{"aids":[', '{"aids":[5,999999999],"timestamps":[20,10],"event_types":[0,1],"k":7}']
def post(a, body):
    req = urllib.request.Request(f"http://{a}/predict", data=body.encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
same = differ = 0
for body in bodies:
    a, b = post(old, body), post(new, body)
    if a[0] == 200 or b[0] == 200:
        ok = a == b
    else:  # error bodies gained a "code" field: compare status and message
        import json
        ja, jb = json.loads(a[1]), json.loads(b[1])
        ok = a[0] == b[0] and ja["status"] == jb["status"] and ja["message"] == jb["message"]
    same += ok
    differ += not ok
print(f"{'serve POST /predict (' + str(len(bodies)) + ' requests)':<44} {'identical' if differ == 0 else str(differ) + ' DIFFERENT'}")
sys.exit(1 if differ else 0)
PY
exit $status
