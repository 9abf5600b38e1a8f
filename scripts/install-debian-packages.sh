#!/usr/bin/env bash
# Debian packages the project needs outside Python, installed with apt when missing:
#   chromium    the browser test (Playwright drives it; it cannot download its own)
#   bubblewrap  the sandbox confines the commands it runs with bwrap (docs/security.md)
# Usage: scripts/install-debian-packages.sh PACKAGE...   (make test and make demo run it)
# Idempotent and quick when everything is there. Installs as root with apt; otherwise says
# in one line per package what is missing and what follows from it.
set -euo pipefail

command_of() {
  case "$1" in
    bubblewrap) echo bwrap ;;
    *) echo "$1" ;;
  esac
}

consequence_of() {
  case "$1" in
    chromium) echo "the browser test (tests/browser) will be SKIPPED" ;;
    bubblewrap) echo "sandbox commands fall back to a separate uid (root only) or are refused" ;;
    *) echo "what needs it will not work" ;;
  esac
}

missing=()
for package in "$@"; do
  if ! command -v "$(command_of "$package")" >/dev/null 2>&1; then
    missing+=("$package")
  fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} (apt-get install)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
for package in "${missing[@]}"; do
  echo "*** $package is missing and cannot be installed here (not root or no apt):" \
    "$(consequence_of "$package"); install it with: sudo apt-get install $package"
done
