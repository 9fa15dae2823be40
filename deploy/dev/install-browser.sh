#!/usr/bin/env bash
# Installs Debian's chromium for the test that opens the simulation's HTML report in
# a real headless browser (driven by Playwright for Python, which is never let
# download a browser of its own). Without root or apt the test is skipped, except
# under CI, where it fails.
set -euo pipefail
if command -v chromium >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "chromium not found and cannot install it here (needs root and apt);" \
       "the report's browser test will be skipped" >&2
  exit 0
fi
echo "installing Debian's chromium package (for the report's browser test) ..."
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
chromium --version | head -n 1
