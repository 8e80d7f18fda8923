"""Writing files the harness hands to people and tools (reports, baselines, statistics):
whole or not at all, and a failure is one line naming the file."""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import ConfigError, HarnessError


def write_atomically(path: Path, text: str, what: str,
                     error: type[HarnessError] = ConfigError) -> None:
    """Writes `text` to a temporary file beside `path` and renames it into place: a reader
    (a CI step, a browser) never sees half a file, and a failed write leaves the previous
    file as it was. Raises `error` ("PATH: cannot write WHAT: reason")."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(text)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise error(f"{path}: cannot write {what}: {exc.strerror or exc}") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
