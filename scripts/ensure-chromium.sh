#!/usr/bin/env bash
# Debian's Chromium and ChromeDriver for the dashboard's browser tests: installed when missing.
# Playwright drives this browser (executablePath); it never downloads one of its own.
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "the browser tests need Chromium: run 'apt-get install chromium chromium-driver' as root" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
