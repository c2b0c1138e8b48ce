#!/usr/bin/env bash
# Installs Debian packages when COMMAND is missing: ensure-debian.sh COMMAND PACKAGE...
# (wrk for `make bench`; chromium and chromium-driver for the browser tests).
set -euo pipefail
command="$1"
shift
command -v "$command" >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "$command is missing: run 'apt-get install $*' as root" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
