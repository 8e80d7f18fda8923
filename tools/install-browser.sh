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
    # Another apt-get (a second job on the machine) may hold the package lock: wait for it,
    # up to PLAN_HARNESS_APT_LOCK_WAIT seconds (default 300), instead of failing at once.
    wait="DPkg::Lock::Timeout=${PLAN_HARNESS_APT_LOCK_WAIT:-300}"
    apt-get -o "$wait" update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get -o "$wait" install -y -qq chromium >/dev/null
    exit 0
fi
echo "install-browser: no Chromium found; install one (Debian: apt-get install chromium)," \
     "set PLAN_HARNESS_CHROMIUM to its path, or skip the browser test with -m 'not browser'" >&2
exit 1
