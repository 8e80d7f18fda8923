"""Cache: built embedded-server data directories, reused when nothing that shapes the data
or the plans has changed.

An entry is a cleanly shut-down PostgreSQL data directory (loaded, migrated, vacuumed) named
by a fingerprint of its inputs. It is written under a temporary name with its manifest last,
then renamed into place, so an interrupted or failed build never becomes an entry."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, HarnessError
from harness.server.datadirs import copy_tree, process_alive

MANIFEST = "manifest.json"
DATA = "data"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "plan-harness"


def fingerprint(inputs: Mapping[str, Any]) -> str:
    """A short stable hash of the inputs (any JSON-serialisable mapping)."""
    text = json.dumps(inputs, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def files_digest(paths: Iterable[Path]) -> str:
    """A hash of the files' names and contents, so an edited migration rebuilds."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class CacheEntry:
    key: str
    path: Path
    created_at: str
    size_bytes: int
    inputs: Mapping[str, Any]
    database: str
    row_counts: Mapping[str, int]

    @property
    def data_dir(self) -> Path:
        return self.path / DATA


LOCKS = ".locks"  # one lock file per entry key, held while that entry is built


class BuildCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _writable_root(self) -> Path:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".probe-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(f"cache directory {self.root} is not writable: "
                              f"{exc.strerror or exc}") from None
        return self.root

    def lookup(self, key: str) -> CacheEntry | None:
        """The entry `key`, marked as used now (its directory's time), so pruning by age
        removes what no run has used lately, not what was built long ago and is still in use."""
        entry = _read_entry(self.root / key)
        if entry is not None:
            with contextlib.suppress(OSError):  # a read-only cache is still usable
                os.utime(entry.path)
        return entry

    @contextlib.contextmanager
    def building(self, key: str) -> Iterator[None]:
        """Held while one process looks up, builds and stores entry `key`: a second process
        (a pytest-xdist worker, a parallel CI job on the same machine) that wants the same
        entry waits here, then finds it stored instead of building it again."""
        locks = self._writable_root() / LOCKS
        locks.mkdir(exist_ok=True)
        with (locks / f"{key}.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def store(self, key: str, data_dir: Path, inputs: Mapping[str, Any], database: str,
              row_counts: Mapping[str, int]) -> CacheEntry:
        """Copies a stopped server's data directory in as entry `key`."""
        root = self._writable_root()
        staging = root / f".incomplete-{key}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            staging.mkdir()
            copy_tree(data_dir, staging / DATA)
            manifest = {"key": key, "inputs": dict(inputs), "database": database,
                        "row_counts": dict(row_counts),
                        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                        "size_bytes": _size(staging / DATA)}
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str))
            final = root / key
            if final.exists():  # another run stored the same inputs meanwhile
                shutil.rmtree(staging)
            else:
                staging.rename(final)
        except (OSError, HarnessError) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ConfigError(f"cannot store a cache entry in {root}: {detail}") from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        entry = self.lookup(key)
        assert entry is not None
        return entry

    def entries(self) -> list[CacheEntry]:
        if not self.root.is_dir():
            return []
        found = (_read_entry(path) for path in self.root.iterdir() if path.is_dir())
        return sorted((e for e in found if e is not None), key=lambda e: e.created_at)

    def prune(self, older_than_days: float | None = None,
              unused_since: float | None = None) -> list[Path]:
        """Removes entries (all, those unused for the given age, or those unused since the
        given time, in seconds since the epoch) and leftovers of interrupted stores."""
        removed: list[Path] = []
        if not self.root.is_dir():
            return removed
        cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
        if unused_since is not None:
            cutoff = unused_since if cutoff is None else min(cutoff, unused_since)
        for path in self.root.iterdir():
            if not path.is_dir() or path.name == LOCKS:
                continue  # a lock file in use must keep its inode
            incomplete = path.name.startswith(".incomplete-")
            if incomplete and _store_in_progress(path):
                continue
            if not incomplete and cutoff is not None and path.stat().st_mtime >= cutoff:
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        return removed


def _read_entry(path: Path) -> CacheEntry | None:
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError):
        return None  # not an entry, or not a complete one
    if not (path / DATA / "PG_VERSION").exists():
        return None
    return CacheEntry(key=manifest["key"], path=path, created_at=manifest["created_at"],
                      size_bytes=int(manifest["size_bytes"]), inputs=manifest["inputs"],
                      database=manifest["database"], row_counts=manifest.get("row_counts", {}))


def _store_in_progress(path: Path) -> bool:
    pid = path.name.rsplit("-", 1)[-1]
    return pid.isdigit() and process_alive(int(pid))


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
