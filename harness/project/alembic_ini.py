"""The application's own alembic.ini, when project.toml names one (`schema.alembic_ini`): its
settings (prepend_sys_path, version_locations, logging, anything its env.py reads) are used
as the app's `alembic` command would use them, with the harness's own database in place of
the app's. Kept per migrations folder, so every step that runs or reads that folder's
migrations (build, compare, preflight) finds it without each being handed it."""

from __future__ import annotations

import configparser
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.project.tomlfields import FieldReader

SECTION = "alembic"
# migrations folder (resolved) -> the alembic.ini read with it
_BY_MIGRATIONS: dict[Path, Path] = {}


def read_alembic_ini(reader: FieldReader, schema: Mapping[str, Any], base: Path,
                     migrations_dir: Path) -> Path | None:
    """`schema.alembic_ini`, relative to `base` (project.toml's directory): an ini file with
    an [alembic] section, kept for `migrations_dir`. None when not given."""
    given = reader.get(schema, "alembic_ini", str, "schema", default=None)
    if given is None:
        return None
    path = (base / given).resolve()
    if not path.is_file():
        raise reader.fail("schema.alembic_ini", f"{path} does not exist")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path)
    except configparser.Error as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise reader.fail("schema.alembic_ini", f"{path}: {first}") from None
    if not parser.has_section(SECTION):
        raise reader.fail("schema.alembic_ini", f"{path} has no [{SECTION}] section")
    _BY_MIGRATIONS[migrations_dir.resolve()] = path
    return path


def alembic_ini_for(migrations_dir: Path) -> Path | None:
    """The alembic.ini project.toml gave with `migrations_dir`, if any."""
    return _BY_MIGRATIONS.get(migrations_dir.resolve())
