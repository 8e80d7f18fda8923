#!/bin/sh
# Test setup: the report's browser test drives headless Chromium. Installs Debian's chromium
# package when no Chromium is found (as root, with apt-get); otherwise says what to do.
set -eu
for name in "${PLAN_HARNESS_CHROMIUM:-}" chromium chromium-browser google-chrome; do
    if [ -n "$name" ] && command -v "$name" >/dev/null 2>&1; then
        exit 0
    fi
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: installing Debian's chromium for the report's browser test" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    exit 0
fi
echo "install-browser: no Chromium found; install one (Debian: apt-get install chromium)," \
     "set PLAN_HARNESS_CHROMIUM to its path, or skip the browser test with -m 'not browser'" >&2
exit 1
