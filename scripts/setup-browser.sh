#!/usr/bin/env bash
# The browser the `view` tests open their pages in: Debian's chromium, driven by puppeteer-core (npm).
#   bash scripts/setup-browser.sh      # apt-get install chromium, unless it is there already
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "setup-browser: $(chromium --version 2>/dev/null || echo chromium) already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "setup-browser: apt-get needs root (no passwordless sudo); the view browser tests will be skipped" >&2
    exit 1
  fi
fi
t0=$(date +%s)
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium >/dev/null \
  || { DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium >/dev/null; }
echo "setup-browser: chromium installed in $(( $(date +%s) - t0 ))s"
