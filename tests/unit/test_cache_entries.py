"""The build cache without a run: incomplete entries, an unwritable directory, a failed copy
and the fingerprint (tests/db/test_cache.py runs the harness against it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.build.cache import BuildCache, fingerprint
from harness.errors import ConfigError


def test_an_incomplete_entry_is_ignored_and_pruned(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path)
    (tmp_path / "abc").mkdir()  # no manifest: a copy that never finished
    (tmp_path / ".incomplete-abc-999999999").mkdir()  # its writer is gone
    assert cache.lookup("abc") is None and cache.entries() == []
    assert len(cache.prune()) == 2


def test_a_cache_directory_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="cache directory .*/file/cache is not writable"):
        BuildCache(blocker / "cache").store("k", tmp_path, {}, "db", {})


def test_a_failed_copy_leaves_no_entry(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "cache")
    with pytest.raises(ConfigError, match="cannot store a cache entry"):
        cache.store("k", tmp_path / "missing-data-dir", {}, "db", {})
    assert cache.entries() == [] and list((tmp_path / "cache").iterdir()) == []


def test_the_fingerprint_covers_every_input() -> None:
    base = {"revision": "a", "seed": 1, "data": {"calls": 10}}
    assert fingerprint(base) == fingerprint(dict(reversed(list(base.items()))))
    assert fingerprint(base) != fingerprint({**base, "seed": 2})
    assert fingerprint(base) != fingerprint({**base, "data": {"calls": 11}})
