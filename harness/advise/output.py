"""Output: the advice as a team merges it. `advice.json` (every figure), `advice.md` (the
summary), `index.html` (per recommendation: the items it serves, plan and index before and
after, buffers and p50/p95 per item and plan mode, size, build time, write delta; a verdict
with numbers on each proposed candidate), an Alembic migration that makes the change
(CONCURRENTLY, idempotent by definition) and the expectations and budgets it implies."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape

from harness.advise.candidates import PROPOSED, Candidate
from harness.advise.engine import Advice, CaseChange
from harness.advise.search import ranking
from harness.advise.trials import gmean
from harness.files import write_atomically
from harness.project.scenarios import BUFFER_MARGIN, P95_MARGIN
from harness.report.render import fmt_bytes, fmt_int, fmt_ms


@dataclass(frozen=True)
class Recommendation:
    action: str  # "add" | "drop"
    candidate: Candidate
    size_bytes: int
    build_seconds: float
    write_delta: float | None  # WAL bytes per row it adds (negative: saves)
    serves: list[CaseChange]  # items whose chosen plans read it (add) or read it at head (drop)


@dataclass(frozen=True)
class ProposalVerdict:
    name: str
    text: str
    verdict: str  # chosen | serves, not chosen | serves no case
    why: str
    size_bytes: int
    build_seconds: float
    write_delta: float | None


def recommendations(advice: Advice) -> list[Recommendation]:
    by_name = {c.name: c for c in advice.candidates}
    found = []
    for action, names in (("add", advice.added), ("drop", advice.removed)):
        for name in names:
            built = advice.built.get(name)
            serves = [c for c in advice.changes
                      if name in (c.after_indexes if action == "add" else c.before_indexes)]
            found.append(Recommendation(action, by_name[name], built.size_bytes if built else 0,
                                        built.seconds if built else 0.0,
                                        advice.write_deltas.get(name), serves))
    return found


def proposal_verdicts(advice: Advice) -> list[ProposalVerdict]:
    verdicts = []
    tried: dict[str, Any] = {}
    for r in advice.search.rounds:  # the first round's try: against the head's own set
        for t in r.tried:
            if t.move == "add":
                tried.setdefault(t.index, t)
    head_gmean = advice.head_outcome.buffers_gmean
    for candidate in advice.candidates:
        if candidate.kind != PROPOSED:
            continue
        built = advice.built.get(candidate.name)
        used_by = sorted({c.item for c in advice.changes if candidate.name in c.after_indexes})
        attempt = tried.get(candidate.name)
        if candidate.name in advice.chosen_set:
            verdict = "chosen"
            why = f"read by {len(used_by)} item plans in the chosen set: {', '.join(used_by)}"
        elif attempt is not None and attempt.measured < head_gmean * 0.999:
            verdict = "serves, not chosen"
            why = (f"added to the set of its round it lowers gmean buffers to "
                   f"{attempt.measured:,.1f} (head {head_gmean:,.1f}); another candidate did "
                   "better, or its gain was under the threshold")
            if attempt.worse:
                why += f"; makes an item worse than head: {attempt.worse[0]}"
        elif attempt is not None:
            verdict = "serves no case"
            why = (f"added to the head's set no plan gets better (gmean buffers "
                   f"{attempt.measured:,.1f}, head {head_gmean:,.1f})")
            if attempt.worse:
                verdict = "makes a case worse"
                why += f"; worse than head: {attempt.worse[0]}"
        else:
            verdict = "not tried"
            why = ("identical to another candidate" if built is None else
                   "outside the budgets")
        verdicts.append(ProposalVerdict(candidate.name, candidate.text, verdict, why,
                                        built.size_bytes if built else 0,
                                        built.seconds if built else 0.0,
                                        advice.write_deltas.get(candidate.name)))
    return verdicts


def dominated(advice: Advice) -> bool:
    """The head's set is dominated: the chosen set reads less (by the search's threshold) at
    no more write cost and no more total size."""
    head, chosen = advice.head_outcome.buffers_gmean, advice.chosen_outcome.buffers_gmean
    if chosen > head * (1 - advice.options.min_gain) or advice.chosen_set == advice.head_set:
        return False
    if advice.sizes.get("chosen", 0) > advice.sizes.get("head", 0):
        return False
    head_w, chosen_w = advice.writes.get("head"), advice.writes.get("chosen")
    return head_w is None or chosen_w is None or (
        chosen_w.wal_bytes_per_row <= head_w.wal_bytes_per_row * 1.02)


def implied(advice: Advice) -> list[dict[str, Any]]:
    """Per item and plan mode whose plan changes: the indexes its expectation should name
    and the budgets it implies (ceil(x1.25) + 16 buffers, ceil(p95 x5) + 20 ms)."""
    rows = []
    for c in advice.changes:
        if c.after_plan == c.before_plan:
            continue
        rows.append({"item": c.item, "mode": c.mode, "indexes": list(c.after_indexes),
                     "shared_buffers": BUFFER_MARGIN.limit(c.after_buffers),
                     "p95_ms": P95_MARGIN.limit(c.after_p95) if c.after_p95 is not None
                     else None})
    return rows


def summary(advice: Advice) -> dict[str, Any]:
    head, chosen = advice.head_outcome, advice.chosen_outcome
    p50_head = [c.before_p50 for c in advice.changes if c.before_p50 is not None]
    p50_chosen = [c.after_p50 for c in advice.changes if c.after_p50 is not None]
    return {
        "gmean_buffers_head": round(head.buffers_gmean, 1),
        "gmean_buffers_chosen": round(chosen.buffers_gmean, 1),
        "buffers_ratio": round(head.buffers_gmean / max(chosen.buffers_gmean, 1e-9), 3),
        "gmean_cost_head": round(head.cost_gmean, 1),
        "gmean_cost_chosen": round(chosen.cost_gmean, 1),
        "gmean_p50_head_ms": round(gmean(p50_head), 3) if p50_head else None,
        "gmean_p50_chosen_ms": round(gmean(p50_chosen), 3) if p50_chosen else None,
        "size_head": advice.sizes.get("head"), "size_chosen": advice.sizes.get("chosen"),
        "indexes_head": len(advice.head_set), "indexes_chosen": len(advice.chosen_set),
        "wal_bytes_per_row_head": _wal(advice, "head"),
        "wal_bytes_per_row_chosen": _wal(advice, "chosen"),
        "worse_than_head": [f"{c.item} {c.mode}" for c in advice.changes
                            if c.after_buffers > c.before_buffers * 1.5
                            and c.after_buffers - c.before_buffers >= 32],
        "dominated": dominated(advice),
    }


def _wal(advice: Advice, label: str) -> float | None:
    cost = advice.writes.get(label)
    return cost.wal_bytes_per_row if cost else None


def advice_json(advice: Advice, migration: str | None) -> str:
    document = {
        "format": 1,
        "profile": advice.profile, "revision": advice.revision, "seed": advice.seed,
        "seconds": advice.seconds, "summary": summary(advice),
        "add": advice.added, "drop": advice.removed,
        "head_set": sorted(advice.head_set), "chosen_set": sorted(advice.chosen_set),
        "constraint_indexes": advice.fixed,
        "budgets": asdict(advice.budgets),
        "candidates": [{**asdict(c), "built": asdict(advice.built[c.name])
                        if c.name in advice.built else None} for c in advice.candidates],
        "drop_candidates": [asdict(d) for d in advice.drops],
        "recommendations": [{"action": r.action, "index": r.candidate.name,
                             "definition": r.candidate.text, "size_bytes": r.size_bytes,
                             "build_seconds": r.build_seconds, "write_delta": r.write_delta,
                             "serves": [c.item + " " + c.mode for c in r.serves]}
                            for r in recommendations(advice)],
        "proposals": [asdict(v) for v in proposal_verdicts(advice)],
        "rounds": [{"round": r.number, "before": round(r.before, 2), "chosen": r.chosen,
                    "estimated_pick": r.estimated_pick,
                    "tried": [{**asdict(t), "estimated_rank": e, "measured_rank": m}
                              for t, e, m in ranking(r.tried)]}
                   for r in advice.search.rounds],
        "estimated_picks_that_regressed": advice.search.misled,
        "constraints": advice.search.constraints,
        "banned": advice.banned,
        "changes": [asdict(c) for c in advice.changes],
        "writes": {k: asdict(v) for k, v in advice.writes.items()},
        "write_deltas": advice.write_deltas,
        "sizes": advice.sizes,
        "implied": implied(advice),
        "migration": migration,
        "measured_again": advice.measured_again,
    }
    return json.dumps(document, indent=1, default=str) + "\n"


def advice_markdown(advice: Advice, migration: str | None) -> str:
    s = summary(advice)
    lines = [f"## plan-harness advise: {len(advice.added)} to add, {len(advice.removed)} to drop",
             "",
             f"Profile `{advice.profile}`, revision `{advice.revision}`, seed {advice.seed}, "
             f"{len(advice.candidates)} candidates, {advice.seconds:.0f} s.", "",
             "| | head | advised |", "|---|---|---|",
             f"| gmean shared buffers | {s['gmean_buffers_head']:,} | "
             f"{s['gmean_buffers_chosen']:,} ({s['buffers_ratio']}x better) |",
             f"| gmean planner cost | {s['gmean_cost_head']:,} | {s['gmean_cost_chosen']:,} |",
             f"| gmean p50 ms | {s['gmean_p50_head_ms']} | {s['gmean_p50_chosen_ms']} |",
             f"| total index size | {fmt_bytes(s['size_head'])} | {fmt_bytes(s['size_chosen'])} |",
             f"| indexes (no constraint) | {s['indexes_head']} | {s['indexes_chosen']} |",
             f"| WAL bytes per written row | {s['wal_bytes_per_row_head']} | "
             f"{s['wal_bytes_per_row_chosen']} |", ""]
    lines += ["| action | index | definition | serves | size | build s | WAL bytes/row |",
              "|---|---|---|---|---|---|---|"]
    for r in recommendations(advice):
        delta = "" if r.write_delta is None else f"{r.write_delta:+,.1f}"
        lines.append(f"| {r.action} | {r.candidate.name} | `{r.candidate.text}` | "
                     f"{len(r.serves)} | {fmt_bytes(r.size_bytes)} | {r.build_seconds:.2f} | "
                     f"{delta} |")
    lines += ["", "### Proposed candidates", "", "| index | verdict | why | size | WAL bytes/row |",
              "|---|---|---|---|---|"]
    for v in proposal_verdicts(advice):
        delta = "" if v.write_delta is None else f"{v.write_delta:+,.1f}"
        lines.append(f"| {v.name} | {v.verdict} | {v.why.replace('|', '/')} | "
                     f"{fmt_bytes(v.size_bytes)} | {delta} |")
    if advice.search.misled:
        lines += ["", "### Estimated picks that measured as a regression", ""]
        lines += [f"- {line}" for line in advice.search.misled]
    if s["worse_than_head"]:
        lines += ["", "### Worse than head", ""] + [f"- {i}" for i in s["worse_than_head"]]
    if migration:
        lines += ["", f"Migration: `{migration}`"]
    return "\n".join(lines) + "\n"


_MIGRATION = '''"""Indexes advised by `plan-harness advise` ({profile}, seed {seed}): {title}.

Built CONCURRENTLY outside a transaction, with statement_timeout lifted; idempotent by
definition: an index of the same definition under another name means nothing is built, an
INVALID one of the same name (a failed concurrent build) is rebuilt, and a same-named index
with another definition stops the migration. The downgrade restores the indexes it dropped
and removes the ones it added.

Revision ID: {revision}
Revises: {head}
"""

import logging

from alembic import op

revision = "{revision}"
down_revision = "{head}"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

# name, CREATE INDEX CONCURRENTLY statement, definition as pg_get_indexdef() gives it (unnamed)
ADD: list[tuple[str, str, str]] = [
{add}
]
DROP: list[tuple[str, str, str]] = [
{drop}
]

_INDEXES_SQL = """
SELECT ix.relname, quote_ident(ix.relname), i.indisvalid, pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class ix ON ix.oid = i.indexrelid
WHERE ix.relnamespace = current_schema()::regnamespace
"""


def _existing(bind):
    found = {{}}
    for name, quoted, valid, text in bind.exec_driver_sql(_INDEXES_SQL).fetchall():
        definition = text.removeprefix("CREATE ").replace(f"INDEX {{quoted}} ON ", "INDEX ON ", 1)
        found[name] = (valid, definition)
    return found


def _ensure(bind, name, create, definition, leaving=()):
    existing = _existing(bind)
    current = existing.get(name)
    if current == (True, definition):
        return
    if current is not None and not current[0]:
        log.warning("%s is INVALID (a failed concurrent build): dropping and rebuilding", name)
        bind.exec_driver_sql(f'DROP INDEX CONCURRENTLY IF EXISTS "{{name}}"')
    elif current is not None:
        raise RuntimeError(f"index {{name}} exists with another definition: {{current[1]}}; "
                           f"expected {{definition}}")
    else:
        twin = next((other for other, (valid, text) in existing.items()
                     if valid and text == definition and other not in leaving), None)
        if twin is not None:
            log.warning("%s not built: %s has the same definition", name, twin)
            return
    bind.exec_driver_sql(create)
    if not _existing(bind)[name][0]:
        raise RuntimeError(f"concurrent build of {{name}} left an INVALID index")


def upgrade() -> None:
    with op.get_context().autocommit_block():
        bind = op.get_bind()
        bind.exec_driver_sql("SET statement_timeout = 0")
        for name, create, definition in ADD:
            _ensure(bind, name, create, definition, leaving={{n for n, _, _ in DROP}})
        for name, _create, _definition in DROP:
            bind.exec_driver_sql(f'DROP INDEX CONCURRENTLY IF EXISTS "{{name}}"')


def downgrade() -> None:
    with op.get_context().autocommit_block():
        bind = op.get_bind()
        bind.exec_driver_sql("SET statement_timeout = 0")
        for name, create, definition in DROP:
            _ensure(bind, name, create, definition)
        for name, _create, _definition in reversed(ADD):
            bind.exec_driver_sql(f'DROP INDEX CONCURRENTLY IF EXISTS "{{name}}"')
'''


def migration_text(advice: Advice) -> tuple[str, str] | None:
    """(file name, source) of the migration, or None when nothing changes."""
    if not advice.added and not advice.removed:
        return None
    by_name = {c.name: c for c in advice.candidates}

    def rows(names: Sequence[str]) -> str:
        return "\n".join(f"    ({n!r},\n     {by_name[n].create_sql(concurrently=True)!r},\n"
                         f"     {advice.built[n].definition!r}),"
                         for n in names)

    digest = hashlib.sha256(repr((advice.revision, advice.added, advice.removed)).encode())
    revision = f"advise_{digest.hexdigest()[:12]}"
    title = "; ".join(filter(None, [f"add {', '.join(advice.added)}" if advice.added else "",
                                    f"drop {', '.join(advice.removed)}" if advice.removed
                                    else ""]))
    text = _MIGRATION.format(profile=advice.profile, seed=advice.seed, title=title,
                             revision=revision, head=advice.revision,
                             add=rows(advice.added), drop=rows(advice.removed))
    return f"{revision}_advised_indexes.py", text


def _environment() -> Environment:
    env = Environment(loader=ChoiceLoader([PackageLoader("harness.advise", "templates"),
                                           PackageLoader("harness.report", "templates")]),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters.update(ms=fmt_ms, int=fmt_int, bytes=fmt_bytes)
    return env


def render_html(advice: Advice, migration: str | None) -> str:
    return _environment().get_template("advice.html.j2").render(
        advice=advice, summary=summary(advice), recommendations=recommendations(advice),
        proposals=proposal_verdicts(advice), rounds=[(r, ranking(r.tried))
                                                     for r in advice.search.rounds],
        implied=implied(advice), migration=migration)


@dataclass(frozen=True)
class AdvicePaths:
    html: Path
    json: Path
    markdown: Path
    migration: Path | None


def write_advice(directory: Path, advice: Advice) -> AdvicePaths:
    directory.mkdir(parents=True, exist_ok=True)
    made = migration_text(advice)
    migration_path = directory / made[0] if made else None
    if made and migration_path is not None:
        write_atomically(migration_path, made[1], "the advised migration")
    name = str(migration_path) if migration_path else None
    paths = AdvicePaths(directory / "index.html", directory / "advice.json",
                        directory / "advice.md", migration_path)
    write_atomically(paths.json, advice_json(advice, name), "the advice")
    write_atomically(paths.markdown, advice_markdown(advice, name), "the advice")
    write_atomically(paths.html, render_html(advice, name), "the advice")
    return paths


def changes_by_item(changes: Sequence[CaseChange]) -> Mapping[str, list[CaseChange]]:
    grouped: dict[str, list[CaseChange]] = {}
    for change in changes:
        grouped.setdefault(change.item, []).append(change)
    return grouped
