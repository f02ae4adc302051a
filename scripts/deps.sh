#!/usr/bin/env bash
# Installs what building otto-rec needs beyond the Rust toolchain, when it is missing:
# CMake >= 3.28 (LightGBM 4.7's build; Debian 12 ships 3.25, PyPI ships a current one),
# libclang (bindgen, for the LightGBM bindings), GNU OpenMP (LightGBM trains on every
# core; libgomp ships with gcc) and, for the tests, redis-server. Source it to get CMake on
# PATH.
#
#   source scripts/deps.sh          # everything: training (LightGBM) included
#   source scripts/deps.sh serve    # a build without the `train` feature needs none of it
set -euo pipefail
if [ "${1:-}" = serve ]; then
  return 0
fi

cmake_ok() {
  command -v cmake >/dev/null 2>&1 || return 1
  local v
  v=$(cmake --version | head -n1 | awk '{print $3}')
  [ "$(printf '%s\n3.28\n' "$v" | sort -V | head -n1)" = "3.28" ]
}

if ! cmake_ok; then
  echo "deps: installing CMake >= 3.28 from PyPI" >&2
  # Debian's own Python refuses system-wide installs (PEP 668): fall back to the user site.
  python3 -m pip install --quiet 'cmake>=3.28' 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages 'cmake>=3.28'
  cmake_bin=$(python3 -c 'import cmake; print(cmake.CMAKE_BIN_DIR)')
  export PATH="$cmake_bin:$PATH"
fi
cmake_ok || { echo "deps: CMake >= 3.28 is still not on PATH" >&2; exit 1; }
export CMAKE="$(command -v cmake)"

missing=""
dpkg -s libclang-dev >/dev/null 2>&1 || missing="$missing libclang-dev"
# gcc's own libgomp.so (for linking) and the runtime library.
[ -e "$(gcc -print-file-name=libgomp.so)" ] || missing="$missing libgomp1 libgcc-12-dev"
# The tests of the Redis session store run a real Redis server.
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
if [ -n "$missing" ]; then
  echo "deps: installing$missing from apt" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
