#!/usr/bin/env bash
# Installs Debian's prometheus package (the server and promtool) and docker-compose
# for the tests: the rules are checked by promtool, an end-to-end test scrapes the
# service with a real Prometheus, and `docker-compose config` parses
# deploy/compose.yaml (no daemon needed). Prometheus's init script is kept from
# starting a system-wide server (it would listen on every interface).
set -euo pipefail
if command -v promtool >/dev/null && command -v prometheus >/dev/null \
    && command -v docker-compose >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "prometheus/promtool/docker-compose not found and cannot install them here (needs root and apt);" \
       "the tests that need them will be skipped" >&2
  exit 0
fi
echo "installing Debian's prometheus and docker-compose packages (for the tests) ..."
created_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  created_policy=yes
fi
cleanup() { if [ -n "$created_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  prometheus docker-compose >/dev/null
promtool --version | head -n 1
