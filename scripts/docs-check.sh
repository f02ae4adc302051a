#!/usr/bin/env bash
# Checks in a real headless browser that `GET /docs/` renders the API's operations with
# no network: starts a server on a free loopback port, loads the page in Debian's chromium
# (installed when missing) with every host but 127.0.0.1 unresolvable, lets its scripts
# run, and looks for each route in the rendered DOM.
#
#   scripts/docs-check.sh
#
# Prints the operations found; exits 1 if any route is missing from the rendered page.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/release-bin.sh
source scripts/local-server.sh
set +e
need chromium
start_server --model-dir models/default
chromium --headless --no-sandbox --disable-gpu --user-data-dir="$work/profile" \
  --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" \
  --virtual-time-budget=15000 --dump-dom "$url/docs/" >"$work/dom.html" 2>"$work/chromium.log"
missing=0
for route in "post /predict" "get /health" "get /livez" "get /readyz" "get /metrics" "post /admin/reload"; do
  set -- $route
  # Swagger UI renders each operation as a block with the method and the path.
  if grep -q "opblock-$1" "$work/dom.html" && grep -q "data-path=\"$2\"" "$work/dom.html"; then
    echo "rendered: ${1^^} $2"
  else
    echo "MISSING:  ${1^^} $2"; missing=1
  fi
done
echo "$(grep -o 'class="opblock opblock-' "$work/dom.html" | wc -l) operation blocks in the rendered page ($(wc -c <"$work/dom.html") bytes of DOM)"
exit $missing
