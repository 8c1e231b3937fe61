#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain and Python 3 with pip,
# on a fresh Debian machine (as root, or with sudo). Each tool is installed only when
# missing, so a second run does nothing. The README's test command and .ci/run call it.
#
# What needs what:
#   nats-server          the JetStream bridge and remote-consumer tests (tools/bridge)
#   postgresql (initdb)  the indexer's PostgreSQL tests (tools/index)
#   valgrind, cc         the C binding's example and leak check (consumer-sdk/c)
#   setpriv              the hostile-consumer tests, which drop privileges (util-linux)
#   systemd-analyze      verifying the unit templates in tools/systemd (systemd)
#   maturin, pytest      the Python package and its tests (consumer-sdk/python)
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

have() { command -v "$1" >/dev/null 2>&1; }
pg_have() { have initdb || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }

apt_pkgs=()
have nats-server || apt_pkgs+=(nats-server)
pg_have || apt_pkgs+=(postgresql)
have valgrind || apt_pkgs+=(valgrind)
have cc || apt_pkgs+=(gcc)
have setpriv || apt_pkgs+=(util-linux)
have systemd-analyze || apt_pkgs+=(systemd)

if [ "${#apt_pkgs[@]}" -gt 0 ]; then
  echo "install-deps: apt-get install ${apt_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}"
fi

py_pkgs=()
python3 -c 'import maturin' >/dev/null 2>&1 || have maturin || py_pkgs+=(maturin)
python3 -c 'import pytest' >/dev/null 2>&1 || py_pkgs+=(pytest)
if [ "${#py_pkgs[@]}" -gt 0 ]; then
  echo "install-deps: pip install ${py_pkgs[*]}"
  python3 -m pip install -q "${py_pkgs[@]}"
fi
echo "install-deps: all test dependencies present"
