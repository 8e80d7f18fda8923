#!/bin/sh
# Prints the newest migration revision on a git ref (default origin/main), for
# `plan-harness compare --base`. This project names migration files <revision>_<what>.py
# with timestamp revisions, so the newest is the largest; a project with other revision ids
# would ask Alembic (`alembic heads`) in a checkout of that ref instead.
set -eu
ref="${1:-origin/main}"
dir="${2:-fixtures/migrations/versions}"
revision=$(git ls-tree --name-only "$ref" "$dir/" | sed -n 's#.*/\([0-9]\{1,\}\)_[^/]*\.py$#\1#p' | sort | tail -n 1)
if [ -z "$revision" ]; then
    echo "base-revision: no migration under $dir at $ref" >&2
    exit 2
fi
echo "$revision"
