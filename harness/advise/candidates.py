"""Candidates: the indexes an advice chooses among. The head's own (an index that enforces a
constraint always stays), the project's proposals (`[advise] candidates`), and ones derived
per scenario from what the planner saw of each scan at head: the equality columns, then the
range or ORDER BY column with its direction; the same with INCLUDE columns for an index-only
scan; partial indexes for predicates written as literals in the SQL; the equality columns
reordered. Drops: head indexes another makes redundant, or that no plan reads."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from harness.advise.conditions import (
    EQUALITY,
    OTHER,
    RANGE,
    Comparison,
    comparisons,
    output_columns,
    sort_keys,
)
from harness.measure.capacity import IndexSize, duplicates_and_redundancy
from harness.measure.plans import Plan, PlanNode
from harness.project.advising import ProposedIndex

HEAD, PROPOSED, GENERATED, COVERING, PARTIAL, REORDERED = (
    "head", "proposed", "generated", "covering", "partial", "reordered")
KINDS = (HEAD, PROPOSED, GENERATED, COVERING, PARTIAL, REORDERED)
# a covering index carries at most this many columns beyond its keys (SELECT * never)
MAX_INCLUDE = 3
_SCANS = frozenset({"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan"})
_ORDERING = frozenset({"Sort", "Incremental Sort"})


@dataclass(frozen=True)
class Candidate:
    """One index the advice may keep or add: its name, table, key columns (each may end in
    DESC), INCLUDE columns and predicate; `kind` says where it came from and `origin` which
    scenarios or which proposal."""

    name: str
    table: str
    columns: tuple[str, ...]
    include: tuple[str, ...] = ()
    where: str = ""
    kind: str = GENERATED
    origin: tuple[str, ...] = ()
    constraint: bool = False  # backs a primary key or unique constraint: never dropped
    definition: str = ""  # as the server has it once built (unnamed), else ""

    @property
    def shape(self) -> tuple[str, tuple[str, ...], tuple[str, ...], str]:
        return (self.table, self.columns, self.include, " ".join(self.where.split()))

    def create_sql(self, concurrently: bool = False) -> str:
        include = (f" INCLUDE ({', '.join(_quoted(c) for c in self.include)})"
                   if self.include else "")
        where = f" WHERE {self.where}" if self.where else ""
        how = "CONCURRENTLY " if concurrently else ""
        keys = ", ".join(_key(c) for c in self.columns)
        return f'CREATE INDEX {how}"{self.name}" ON "{self.table}" ({keys}){include}{where}'

    @property
    def text(self) -> str:
        """`calls (company_id, created_at DESC) INCLUDE (status) WHERE booked`."""
        include = f" INCLUDE ({', '.join(self.include)})" if self.include else ""
        return (f"{self.table} ({', '.join(self.columns)}){include}"
                + (f" WHERE {self.where}" if self.where else ""))


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _key(column: str) -> str:
    name, _, direction = column.partition(" ")
    return _quoted(name) + (f" {direction.upper()}" if direction else "")


@dataclass(frozen=True)
class Drop:
    """A head index the advice may remove, and why it is a candidate for that."""

    index: str
    table: str
    reason: str


@dataclass
class CandidateSet:
    candidates: list[Candidate] = field(default_factory=list)
    drops: list[Drop] = field(default_factory=list)

    def by_name(self) -> dict[str, Candidate]:
        return {c.name: c for c in self.candidates}


def head_candidates(sizes: Sequence[IndexSize], tables: Iterable[str]) -> list[Candidate]:
    """The head's indexes on the tables the plans read, as candidates (constraints fixed)."""
    wanted = set(tables)
    return [Candidate(s.index, s.table, s.columns, s.include, s.predicate or "", HEAD,
                      constraint=s.unique or s.primary)
            for s in sizes if s.table in wanted]


def proposed_candidates(proposals: Sequence[ProposedIndex]) -> list[Candidate]:
    return [Candidate(p.name, p.table, p.columns, p.include, p.where, PROPOSED, ("project",))
            for p in proposals]


def drop_candidates(sizes: Sequence[IndexSize], used: Mapping[str, Sequence[str]],
                    tables: Iterable[str]) -> list[Drop]:
    """Head indexes (no constraint) that another index makes redundant, or no plan reads."""
    wanted = set(tables)
    covered = duplicates_and_redundancy([{**s.__dict__} for s in sizes])
    drops = []
    for s in sizes:
        if s.table not in wanted or s.unique or s.primary:
            continue
        duplicates, wider = covered.get(s.index, ([], []))
        if duplicates or wider:
            drops.append(Drop(s.index, s.table, "made redundant by "
                              + ", ".join(duplicates + wider)))
        elif not used.get(s.index):
            drops.append(Drop(s.index, s.table, "no plan reads it at head"))
    return drops


@dataclass(frozen=True)
class ScanFacts:
    """What one scan of a table needs: its equality, range and other comparisons, the
    order asked above it, and the columns it hands on."""

    table: str
    comparisons: tuple[Comparison, ...]
    order: tuple[tuple[str, bool], ...]  # (column, descending)
    needed: frozenset[str]


def scans(plan: Plan) -> Iterator[ScanFacts]:
    """Each scan of a table in the plan (a VERBOSE one names its output columns)."""
    yield from _scans(plan.root, ())


def _scans(node: PlanNode, order: tuple[str, ...]) -> Iterator[ScanFacts]:
    """`order`: the Sort Key of an ordering node right above (through a Limit)."""
    details = node.details
    if node.node_type in _ORDERING:
        order = tuple(str(k) for k in details.get("Sort Key", ()))
    if node.node_type in _SCANS and node.relation:
        table, alias = node.relation, details.get("Alias")
        found: list[Comparison] = []
        for key in ("Index Cond", "Recheck Cond", "Filter"):
            if isinstance(details.get(key), str):
                found += comparisons(details[key], table, alias)
        keys = sort_keys(order, table, alias)
        needed = set(output_columns(details.get("Output", ()), table, alias))
        needed |= {c.column for c in found}
        yield ScanFacts(table, tuple(dict.fromkeys(found)),
                        tuple((k.column, k.descending) for k in keys), frozenset(needed))
        return
    for child in node.children:
        # an ordering node's keys apply to the scan right below it (through a Limit too)
        yield from _scans(child, order if node.node_type in _ORDERING | {"Limit"} else ())


def generated_candidates(scenario: str, plans: Sequence[Plan],
                         generic: Sequence[bool] = ()) -> list[Candidate]:
    """The candidates one scenario's head plans suggest (every plan mode, every case). Only
    a generic plan (`generic[i]`) tells a literal of the SQL from a parameter: a custom
    plan shows the parameter's value as a constant, so its comparisons never make a
    partial index."""
    found: dict[tuple[object, ...], Candidate] = {}
    for number, plan in enumerate(plans):
        literal_known = number < len(generic) and generic[number]
        for scan in scans(plan):
            if not literal_known:
                scan = replace(scan, comparisons=tuple(replace(c, literal=False)
                                                       for c in scan.comparisons))
            for candidate in _from_scan(scenario, scan):
                found.setdefault(candidate.shape, candidate)
    return list(found.values())


def _from_scan(scenario: str, scan: ScanFacts) -> Iterator[Candidate]:
    equal = list(dict.fromkeys(c.column for c in scan.comparisons
                               if c.kind == EQUALITY and not c.literal))
    ranged = [c.column for c in scan.comparisons if c.kind == RANGE and c.column not in equal]
    literal = [c for c in scan.comparisons if c.literal and c.kind in (EQUALITY, OTHER)]
    order = [(column, desc) for column, desc in scan.order if column not in equal]
    tail: list[str] = []
    if order:
        tail = [f"{column} DESC" if desc else column for column, desc in order[:1]]
    elif ranged:
        tail = [ranged[0]]
    keys = tuple(equal + tail)
    if not keys:
        return
    origin = (scenario,)

    def make(kind: str, columns: Sequence[str], include: Sequence[str] = (),
             where: str = "") -> Candidate:
        return Candidate(_name(scan.table, columns, include, where), scan.table, tuple(columns),
                         tuple(include), where, kind, origin)

    yield make(GENERATED, keys)
    if ranged and tail and tail[0].split()[0] != ranged[0]:
        yield make(GENERATED, (*equal, ranged[0]))
    key_names = {k.split()[0] for k in keys}
    extra = sorted(scan.needed - key_names)
    if extra and len(extra) <= MAX_INCLUDE:
        yield make(COVERING, keys, extra)
    if literal:
        where = " AND ".join(c.text for c in literal)
        yield make(PARTIAL, [k for k in keys], (), where)
    if len(equal) > 1:
        for order_of in itertools.islice(itertools.permutations(equal), 1, 3):
            yield make(REORDERED, (*order_of, *tail))
    elif equal and ranged and not order:
        yield make(REORDERED, (ranged[0], *equal))


def _name(table: str, columns: Sequence[str], include: Sequence[str], where: str) -> str:
    """`ix_adv_calls_company_id_created_at_<hash>`: readable, unique per definition, and
    within PostgreSQL's 63 characters."""
    digest = hashlib.sha256(repr((table, tuple(columns), tuple(include), where)).encode())
    stem = "_".join([table, *(c.replace(" DESC", "_desc") for c in columns)])
    return f"ix_adv_{stem}"[:54] + "_" + digest.hexdigest()[:8]


CANDIDATE_PREFIX = "ix_adv_"
