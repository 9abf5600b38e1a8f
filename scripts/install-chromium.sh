#!/usr/bin/env bash
# Debian's chromium for the browser test (Playwright drives it; it cannot download its own).
# Installs it when missing and we are root with apt; otherwise says loudly why the browser
# test will be skipped (CI runs as root, so it is installed there and the test runs).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the browser test (apt-get install chromium)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "************************************************************************"
echo "* chromium is missing and cannot be installed here (not root or no apt): *"
echo "* the browser test (tests/browser) will be SKIPPED.                      *"
echo "* Install it with: sudo apt-get install chromium                         *"
echo "************************************************************************"
