#!/usr/bin/env bash
# wrk (HTTP load generator, Debian package) for `make bench`: installed when missing.
set -euo pipefail
command -v wrk >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "make bench needs wrk: run 'apt-get install wrk' as root" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
