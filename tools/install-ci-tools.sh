#!/bin/sh
# Test setup: the tests of docs/ci run the GitLab example's jobs with gitlab-ci-local (shell
# executor) and check the GitHub workflow with action-validator. Both come from npm, pinned in
# tools/ci-tools/package-lock.json, into tools/ci-tools/node_modules. Node.js, npm and rsync
# (gitlab-ci-local copies the project with it) come from Debian, as root with apt-get, when
# they are missing; otherwise this says what to do. gitlab-ci-local and action-validator are
# then linked into a directory on PATH (CI_TOOLS_BIN; default /usr/local/bin as root, else
# ~/.local/bin), so `gitlab-ci-local JOB` runs in a project as docs/ci/README.md says.
set -eu
tools="$(cd "$(dirname "$0")" && pwd)/ci-tools"
missing=""
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
command -v rsync >/dev/null 2>&1 || missing="$missing rsync"
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "install-ci-tools: installing Debian's$missing for the CI example tests" >&2
        apt-get update -qq >/dev/null
        # shellcheck disable=SC2086  # one word per package
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
        echo "install-ci-tools: missing$missing; install them (Debian: apt-get install" \
             "$missing; Node.js 20 or newer), then run this again" >&2
        exit 1
    fi
fi
if ! [ -x "$tools/node_modules/.bin/gitlab-ci-local" ] || ! [ -x "$tools/node_modules/.bin/action-validator" ] \
        || ! [ "$tools/node_modules/.package-lock.json" -nt "$tools/package-lock.json" ]; then
    npm ci --prefix "$tools" --no-audit --no-fund --loglevel=error >/dev/null
fi
if [ -z "${CI_TOOLS_BIN:-}" ]; then
    if [ "$(id -u)" = 0 ]; then CI_TOOLS_BIN=/usr/local/bin; else CI_TOOLS_BIN="$HOME/.local/bin"; fi
fi
mkdir -p "$CI_TOOLS_BIN"
for tool in gitlab-ci-local action-validator; do
    ln -sf "$tools/node_modules/.bin/$tool" "$CI_TOOLS_BIN/$tool"
done
case ":$PATH:" in
    *":$CI_TOOLS_BIN:"*) ;;
    *) echo "install-ci-tools: linked gitlab-ci-local and action-validator into $CI_TOOLS_BIN," \
            "which is not on PATH: export PATH=\"$CI_TOOLS_BIN:\$PATH\"" >&2 ;;
esac
