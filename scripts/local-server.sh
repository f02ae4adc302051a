# Sourced by the scripts that drive a local server: `need` installs missing Debian tools,
# `start_server` starts `$bin serve ARGS... --port 0` (bin from release-bin.sh), waits until
# it listens and sets $server (its pid), $url and $work (a temporary directory); both are
# removed at exit.

# need TOOL...: installs each missing TOOL (a Debian package of the same name).
need() {
  local tool
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null; then
      echo "$(basename "$0"): installing $tool" >&2
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null
    fi
  done
}

work=$(mktemp -d)
server=""
stop_server() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap stop_server EXIT

# start_server ARGS...: `$bin serve ARGS... --port 0` on loopback (environment passed on).
start_server() {
  "$bin" serve "$@" --port 0 >"$work/out" 2>"$work/err" &
  server=$!
  for _ in $(seq 300); do
    grep -q http:// "$work/out" && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
  done
  url=$(grep -o 'http://[^ ]*' "$work/out" | head -1)
  [ -n "$url" ] || { echo "$(basename "$0"): the server did not start" >&2; cat "$work/err" >&2; exit 1; }
}
