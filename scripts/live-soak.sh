#!/usr/bin/env bash
# The reliability soak of live sessions (scripts/live_soak.py says what it does and checks):
# mixed ingestion and recommendations with hot reloads, a Redis restart and a replica killed
# in the middle (STORE=redis), or a clean restart through the snapshot (STORE=memory);
# every event acknowledged 2xx is counted back at the end.
#
#   [DURATION=300] [STORE=redis|memory|both] [BIN=…] bash scripts/live-soak.sh
#
# Redis is Debian's redis-server (installed when missing), started on a free loopback port
# and stopped by its process id. Exits 1 on a lost event or an undocumented failure.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/release-bin.sh
source scripts/local-server.sh
need redis-server
world=target/default-world
[ -f "$world/test.jsonl" ] || "$bin" generate --out "$world" --sessions 60000 --seed 42 2>/dev/null
store=${STORE:-both}
[ "$store" = both ] && stores=(redis memory) || stores=("$store")
for s in "${stores[@]}"; do
  mkdir -p "$work/$s"
  python3 scripts/live_soak.py "$bin" models/default "$world/test.jsonl" "$work/$s" \
    --store "$s" --duration "${DURATION:-300}"
done
