"""Citus plans: the Citus scan of a distributed plan opened into its tasks, each task's worker
plan named as on one node (shard suffixes stripped), so the one plan model reads it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.errors import PlanError
from harness.measure.plans import (
    BITMAP_INDEX_SCAN,
    EXECUTED_APART,
    PlanNode,
    register_node_expander,
)

CUSTOM_SCAN = "Custom Scan"
CITUS_SCANS = frozenset({"Citus Adaptive", "Citus Router", "Citus Real-Time",
                         "Citus Task-Tracker"})
TASK = "Citus Task"  # the node this module makes for one task: its worker plan below it
NAMEDATALEN = 64
_SHARD_SUFFIX = re.compile(r"^(?P<base>.+)_(?P<shard>\d+)$")
_HASHED = re.compile(r"^(?P<prefix>.+)_(?P<hash>[0-9a-f]{8})$")


@dataclass
class ShardFacts:
    """What the cluster's catalog says and a plan does not: the rows each shard holds (a
    task on a shard known to be empty keeps the shard's own names, so checks read it as the
    empty table it is), and the full names of long objects (Citus cuts a name that would
    pass 63 bytes with its shard id and puts a hash of the full name before the id)."""

    shard_rows: dict[int, int] = field(default_factory=dict)
    long_names: set[str] = field(default_factory=set)


_FACTS = ShardFacts()


def know(shard_rows: Mapping[int, int] | None = None,
         names: Iterable[str] | None = None) -> None:
    """Tells the expander the cluster's shards and object names (the citus provider does, once
    it has read them); plans read from now on use them."""
    if shard_rows is not None:
        _FACTS.shard_rows = dict(shard_rows)
    if names is not None:
        _FACTS.long_names = {n for n in names if len(n) > NAMEDATALEN - 20}


def shard_rows() -> dict[int, int]:
    return dict(_FACTS.shard_rows)


def forget() -> None:
    _FACTS.shard_rows, _FACTS.long_names = {}, set()


def shard_name(name: str, shard_id: int) -> str:
    """The name Citus gives `name` on shard `shard_id` (AppendShardIdToName)."""
    suffix = f"_{shard_id}"
    if len(name.encode()) < NAMEDATALEN - len(suffix):
        return name + suffix
    clip = _clip(name, NAMEDATALEN - len(suffix) - 10)
    return f"{clip}_{hash_any(name.encode()):08x}{suffix}"


def _clip(name: str, limit: int) -> str:
    """The longest prefix of whole characters within `limit` bytes (pg_mbcliplen)."""
    out = ""
    for char in name:
        if len((out + char).encode()) > limit:
            break
        out += char
    return out


def base_name(name: str, shard_id: int) -> str:
    """The object's own name from its name on a shard: the suffix removed and, for a cut
    name with a hash, the known full name it stands for (or the cut name when unknown)."""
    suffix = f"_{shard_id}"
    if not name.endswith(suffix):
        return name
    stripped = name[: -len(suffix)]
    if len(name.encode()) < NAMEDATALEN - 1:
        return stripped
    hashed = _HASHED.match(stripped)
    if hashed is None:
        return stripped
    for known in _FACTS.long_names:
        if shard_name(known, shard_id) == name:
            return known
    return stripped


def shard_of(relation: str) -> int | None:
    found = _SHARD_SUFFIX.match(relation)
    return int(found["shard"]) if found else None


def expand_citus_scan(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The tasks of a Citus scan, one node each, with its worker plan below it. A scan that
    shows fewer tasks than it ran is refused: one task stands for none of the others."""
    if node.get("Node Type") != CUSTOM_SCAN or node.get("Custom Plan Provider") not in CITUS_SCANS:
        return []
    job = (node.get("Distributed Query") or {}).get("Job")
    if not isinstance(job, Mapping):
        return []
    tasks = job.get("Tasks", [])
    if not isinstance(tasks, list):
        raise PlanError("EXPLAIN output: the Citus scan's 'Tasks' is not a list")
    count = int(job.get("Task Count", len(tasks)))
    if count > len(tasks):
        raise PlanError(f"EXPLAIN output: the Citus scan shows {len(tasks)} of its {count} tasks "
                        f"(Tasks Shown: {job.get('Tasks Shown', '?')}); every task is needed: "
                        "SET citus.explain_all_tasks = on")
    return [_task_node(number, task) for number, task in enumerate(tasks, start=1)]


def _task_node(number: int, task: Mapping[str, Any]) -> dict[str, Any]:
    top = _remote_top(task.get("Remote Plan"))
    root = top["Plan"]
    shard = _first_shard(root)
    rows = _FACTS.shard_rows.get(shard) if shard is not None else None
    named = root if rows == 0 else _named_as_on_one_node(root, shard)
    node: dict[str, Any] = {
        "Node Type": TASK,
        "Task": number,
        "Node": task.get("Node", ""),
        "Shard Id": shard,
        "Shared Hit Blocks": int(root.get("Shared Hit Blocks", 0)),
        "Shared Read Blocks": int(root.get("Shared Read Blocks", 0)),
        # the worker's estimate, for the Citus scan above; no actual rows of its own: the
        # worker plan's root below is the node whose estimate is judged
        "Plan Rows": root.get("Plan Rows", 0),
        EXECUTED_APART: True,
        "Plans": [named],
    }
    if rows is not None:
        node["Shard Rows"] = rows
    if "Execution Time" in top:
        node["Execution Time"] = top["Execution Time"]
    return node


def _remote_top(remote: Any) -> Mapping[str, Any]:
    """`Remote Plan` nests the worker's EXPLAIN document in lists: its object with a plan."""
    while isinstance(remote, list) and len(remote) == 1:
        remote = remote[0]
    if not isinstance(remote, Mapping) or not isinstance(remote.get("Plan"), Mapping):
        raise PlanError("EXPLAIN output: a Citus task's 'Remote Plan' is not a worker plan in "
                        "JSON (EXPLAIN it with the options of a plain EXPLAIN first)")
    return remote


def _first_shard(node: Mapping[str, Any]) -> int | None:
    relation = node.get("Relation Name")
    if isinstance(relation, str) and (shard := shard_of(relation)) is not None:
        return shard
    for child in node.get("Plans", ()):
        if (found := _first_shard(child)) is not None:
            return found
    return None


def _named_as_on_one_node(node: Mapping[str, Any], shard: int | None) -> dict[str, Any]:
    """A copy of a worker plan node (and all below) with shard names turned back into the
    objects' own; a Bitmap Index Scan, which names no relation, takes its parent's shard."""
    copy = dict(node)
    relation = node.get("Relation Name")
    own = shard_of(relation) if isinstance(relation, str) else None
    shard = own if own is not None else shard
    if isinstance(relation, str) and own is not None:
        copy["Relation Name"] = base_name(relation, own)
        copy["Shard Relation Name"] = relation
    index = node.get("Index Name")
    if isinstance(index, str):
        index_shard = shard if shard is not None else shard_of(index)
        if index_shard is not None and node.get("Node Type") in _INDEX_NODES:
            copy["Index Name"] = base_name(index, index_shard)
            copy["Shard Index Name"] = index
    if "Plans" in node:
        copy["Plans"] = [_named_as_on_one_node(child, shard) for child in node["Plans"]]
    return copy


_INDEX_NODES = frozenset({"Index Scan", "Index Only Scan", BITMAP_INDEX_SCAN})


def tasks(root: PlanNode) -> list[PlanNode]:
    """The task nodes of a plan, in the order Citus lists them."""
    return [node for node in root.walk() if node.node_type == TASK]


def hash_any(data: bytes) -> int:
    """PostgreSQL's hash_bytes (Bob Jenkins' lookup3, as a little-endian server runs it):
    what Citus hashes a cut name with."""
    mask = 0xFFFFFFFF

    def rot(x: int, k: int) -> int:
        return ((x << k) | (x >> (32 - k))) & mask

    def mix(a: int, b: int, c: int) -> tuple[int, int, int]:
        a = (a - c) & mask; a ^= rot(c, 4); c = (c + b) & mask  # noqa: E702
        b = (b - a) & mask; b ^= rot(a, 6); a = (a + c) & mask  # noqa: E702
        c = (c - b) & mask; c ^= rot(b, 8); b = (b + a) & mask  # noqa: E702
        a = (a - c) & mask; a ^= rot(c, 16); c = (c + b) & mask  # noqa: E702
        b = (b - a) & mask; b ^= rot(a, 19); a = (a + c) & mask  # noqa: E702
        c = (c - b) & mask; c ^= rot(b, 4); b = (b + a) & mask  # noqa: E702
        return a, b, c

    def final(a: int, b: int, c: int) -> int:
        c ^= b; c = (c - rot(b, 14)) & mask  # noqa: E702
        a ^= c; a = (a - rot(c, 11)) & mask  # noqa: E702
        b ^= a; b = (b - rot(a, 25)) & mask  # noqa: E702
        c ^= b; c = (c - rot(b, 16)) & mask  # noqa: E702
        a ^= c; a = (a - rot(c, 4)) & mask  # noqa: E702
        b ^= a; b = (b - rot(a, 14)) & mask  # noqa: E702
        c ^= b; c = (c - rot(b, 24)) & mask  # noqa: E702
        return c

    def word(at: int) -> int:
        return int.from_bytes(data[at:at + 4], "little")

    length = len(data)
    a = b = c = (0x9E3779B9 + length + 3923095) & mask
    at = 0
    while length - at >= 12:
        a, b, c = (a + word(at)) & mask, (b + word(at + 4)) & mask, (c + word(at + 8)) & mask
        a, b, c = mix(a, b, c)
        at += 12
    rest = data[at:]
    left = len(rest)
    # the last bytes: a and b take whole little-endian words; c's lowest byte is left free
    if left >= 8:
        a = (a + int.from_bytes(rest[0:4], "little")) & mask
        b = (b + int.from_bytes(rest[4:8], "little")) & mask
        c = (c + (int.from_bytes(rest[8:], "little") << 8)) & mask
    elif left >= 4:
        a = (a + int.from_bytes(rest[0:4], "little")) & mask
        b = (b + int.from_bytes(rest[4:], "little")) & mask
    else:
        a = (a + int.from_bytes(rest, "little")) & mask
    return final(a, b, c)


register_node_expander(expand_citus_scan)
