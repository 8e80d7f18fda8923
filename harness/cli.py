"""CLI: `plan-harness run` (the main job: provision, migrate, seed, run every scenario, write
the report), `init` (a new project), `validate`, `report` (re-render a saved run) and `cache`,
for people and CI jobs outside pytest. `run` takes the same --plans-* options as the pytest
plugin, from the same table."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import signal
import statistics
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import NoReturn

from harness import __version__, preflight
from harness.build.cache import BuildCache, default_cache_dir, human_size
from harness.config import OPTIONS, Config, find_config_file
from harness.errors import HarnessError
from harness.files import write_atomically
from harness.project import scaffold
from harness.project.manifest import Project, load_project
from harness.project.scenarios import Case, Scenario
from harness.report import (
    ReportPaths,
    load_results,
    rerender,
    write_report,
    write_review_report,
)
from harness.report.analysis import compare
from harness.report.annotations import failure_annotations
from harness.report.comment import FORGES, comment_body, post_sticky, thread_from_environment
from harness.report.history import load_history, write_history
from harness.report.render import counts_line
from harness.run import PlanRun, all_item_ids, failure_text
from harness.statistics import stamp as stats_stamp
from harness.statistics.capture import capture, write_statistics
from harness.verdict.results import CaseResult, item_id
from harness.workflows import budgets, mutation
from harness.workflows.capacity_review import capacity_review, writes_of

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _OneLineParser(argparse.ArgumentParser):
    """A bad command line is one line naming the argument and the value, like every other
    bad input (argparse would print the whole usage first); `--help` shows the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="plan-harness",
        description="EXPLAIN-plan regression checks for PostgreSQL.",
        epilog="Exit codes: 0 every check passed, 1 a check failed (compare: the head "
        "regressed), 2 bad input or environment, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"plan-harness {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="build (or reuse) the database and run every scenario, then write the "
        "report (the main job)"
    )
    validate = commands.add_parser(
        "validate", help="check the project and scenario files without a database"
    )
    report = commands.add_parser(
        "report", help="render index.html and summary.md from a saved results.json "
        "(no database needed)")
    report.add_argument("results", type=Path, metavar="RESULTS.json", nargs="?",
                        default=None)
    report.add_argument("--history", type=Path, metavar="DIR", default=None,
                        help="instead of one run: every results.json under DIR, oldest first, "
                             "as history.html (per item, shared buffers and p50 over the runs)")
    report.add_argument("--compare", type=Path, metavar="OTHER.json", default=None,
                        help="a run to compare with, as the 'before' (e.g. the revision "
                             "before a migration): adds regressions and before/after tables")
    report.add_argument("--out", type=Path, metavar="DIR", default=None,
                        help="where to write (default: the directory of RESULTS.json)")
    compare_cmd = commands.add_parser(
        "compare", help="run every scenario at a base revision, migrate the same database to "
        "the head revision, run again, and print the difference as Markdown")
    compare_cmd.add_argument("--base", required=True, metavar="REV",
                         help="the revision to start from (e.g. main's head)")
    compare_cmd.add_argument("--head", default="head", metavar="REV",
                         help="the revision to migrate to (default: the newest)")
    budgets_cmd = commands.add_parser(
        "budgets", help="run every scenario and propose per-case budgets from the measured "
        "shared buffers (x1.25) and p95 (x5, at least 25 ms); --write puts them into the "
        "scenario files")
    budgets_cmd.add_argument("--write", action="store_true",
                             help="write each case's budgets for the profile into its scenario "
                                  "file, and the run's noise canary into project.toml")
    mutation_cmd = commands.add_parser(
        "mutation-proof", help="drop each index in turn, run every case, and say whether the "
        "suite noticed (caught, redundant, unused or missed); exit 1 on a miss")
    mutation_cmd.add_argument("--index", action="append", default=None, metavar="NAME",
                              help="an index to drop (repeatable; default: project.toml's "
                                   "[mutation_proof] indexes, else every non-primary-key index "
                                   "on a table the plans read)")
    compare_cmd.add_argument("--markdown-only", action="store_true",
                             help="print only the Markdown summary (and annotations) on "
                                  "stdout, ready for a pull-request comment; the per-item "
                                  "lines and report paths go to stderr")
    review_cmd = commands.add_parser(
        "capacity-review", help="the capacity review in one report: every case before the "
        "reviewed migration and at head on one database, the endpoints' claimed and measured "
        "speed-ups, sizes, the write cost and index growth under the project's "
        "[capacity_review] writer, all measured in this run")
    review_cmd.add_argument("--before", default=None, metavar="REV",
                            help="the revision before the reviewed migration (default: the "
                                 "project's data revision, schema.load_revision)")
    review_cmd.add_argument("--head", default="head", metavar="REV",
                            help="the revision reviewed (default: the newest)")
    stats_cmd = commands.add_parser(
        "stats", help="capture: the planner statistics of the run's database (the built one, "
        "or with --plans-allow-existing-db the DSN's own) to a JSON file, changing nothing; "
        "stamp: capture those of --plans-profile, plan every case there and on --onto with "
        "them loaded, and write them with the outcome, so a projected run onto that profile "
        "gates when every plan agreed (exit 1 when one did not)")
    stats_cmd.add_argument("action", choices=("capture", "stamp"))
    stats_cmd.add_argument("--out", type=Path, required=True, metavar="FILE",
                           help="where to write the statistics (JSON)")
    stats_cmd.add_argument("--onto", default=None, metavar="PROFILE",
                           help="stamp: the small built profile the statistics are projected "
                                "onto (e.g. ci)")
    build = commands.add_parser(
        "build", help="build (or reuse) the database of the profile at --plans-revision "
        "and keep it in the cache, running no scenario: warms the cache (a CI job on the "
        "default branch)")
    comment = commands.add_parser(
        "comment", help="post the summary on the pull request (GitHub) or merge request "
        "(GitLab) as one comment per marker, edited on later runs instead of added again")
    comment.add_argument("--forge", required=True, choices=FORGES)
    comment.add_argument("--body", type=Path, required=True, metavar="FILE",
                         help="the Markdown to post (e.g. reports/summary.md)")
    comment.add_argument("--marker", default="plan-harness",
                         help="names the comment (e.g. the job): one comment per marker")
    comment.add_argument("--link", default=None, metavar="URL",
                         help="the HTML report (e.g. the job's artifact), linked below")
    comment.add_argument("--number", default=None, metavar="N",
                         help="the pull or merge request (default: from the CI variables)")
    init = commands.add_parser(
        "init", help="write a minimal project that runs as it is (migrations, data generator, "
        "profiles, one scenario) into DIR, to adapt to your own schema")
    init.add_argument("directory", type=Path, metavar="DIR",
                      help="where to write it (created if missing; nothing there is "
                           "overwritten)")
    cache = commands.add_parser("cache", help="list or prune the kept built databases")
    cache.add_argument("action", choices=("list", "prune"))
    cache.add_argument("--older-than", type=float, metavar="DAYS", default=None,
                       help="prune only entries no run has used for this long (default: all)")
    cache.add_argument("--unused-since", metavar="TIME", default=None,
                       help="prune only entries no run has used since TIME (ISO 8601, UTC "
                            "unless it names a zone), e.g. the start of a CI job, so the "
                            "cache a job saves holds only what the job used")
    cache.add_argument("--plans-cache-dir", dest="cache_dir", default=None,
                       help="cache location (env PLAN_HARNESS_CACHE_DIR; default "
                            "$XDG_CACHE_HOME/plan-harness or ~/.cache/plan-harness)")
    for sub in (run, compare_cmd, stats_cmd, build, validate, budgets_cmd, mutation_cmd,
                review_cmd):
        sub.add_argument(
            "--project-dir",
            type=Path,
            default=Path.cwd(),
            help="repository root: the pytest config file (pyproject.toml, pytest.ini, ...) "
            "is read from here (default: current directory)",
        )
        sub.add_argument(
            "--fixtures",
            type=Path,
            default=None,
            help="fixtures directory with project.toml, relative to --project-dir "
            "(default: fixtures)",
        )
        sub.add_argument(
            "--scenarios",
            type=Path,
            default=None,
            help="scenario directory, relative to --project-dir (default: scenarios)",
        )
    for sub in (run, compare_cmd, stats_cmd, build, budgets_cmd, mutation_cmd, review_cmd):
        sub.add_argument(
            "-k",
            dest="keyword",
            default=None,
            help="only items whose id (scenario[case]) contains this text"
            if sub in (run, compare_cmd, budgets_cmd, review_cmd) else argparse.SUPPRESS,
        )
        group = sub.add_argument_group(
            "settings (also plans_* keys in the pytest config file: pyproject.toml's "
            "[tool.pytest] or [tool.pytest.ini_options], pytest.toml, pytest.ini, ...)"
        )
        for option in OPTIONS:
            if option.name == "base_revision" or (sub in (compare_cmd, review_cmd)
                                                  and option.name == "revision"):
                continue  # compare's --base and --head say it, capacity-review's --before
            flags, settings = option.argument(option.name)
            group.add_argument(*flags, **settings)
    return parser


def resolve_settings(root: Path, given: dict[str, object]) -> Config:
    """The settings pytest would resolve in `root`: the plans_* keys of the config file
    pytest would read (pytest.toml, pytest.ini, pyproject.toml, tox.ini or setup.cfg)."""
    found = find_config_file(root)
    return Config.resolve(given, found.values, os.environ, root, found.path)


def _project(args: argparse.Namespace) -> Project:
    """The project under --project-dir; --fixtures and --scenarios are relative to it, as
    the defaults are, wherever the command is started from."""
    root = args.project_dir.resolve()
    if not root.is_dir():
        raise HarnessError(f"--project-dir: {root} is not a directory")
    found = {}
    for flag, given, default in (("--fixtures", args.fixtures, "fixtures"),
                                 ("--scenarios", args.scenarios, "scenarios")):
        path = (root / (given or default)).resolve()
        if not path.is_dir():
            raise HarnessError(
                f"{flag}: {path} is not a directory" if given else
                f"--project-dir: {root} has no {default}/ directory (plan-harness init DIR "
                f"writes a project; {flag} names another directory)")
        found[flag] = path
    return load_project(found["--fixtures"], found["--scenarios"])


def _progress(message: str) -> None:
    print(f"plan-harness: {message}", file=sys.stderr, flush=True)


def command_validate(args: argparse.Namespace) -> int:
    """Every problem of the project, its scenario files and the settings a run would take
    from the pytest config file and the environment, one line each (exit 2), or ok."""
    root = args.project_dir.resolve()
    settings = resolve_settings(root, {})
    project = _project(args)
    revisions = [("plans_revision", settings.revision)]
    if settings.base_revision:
        revisions.insert(0, ("plans_base_revision", settings.base_revision))
    inputs = preflight.check_inputs(project, revisions)
    problems = [*inputs.problems,
                *preflight.option_problems(settings, project, inputs.profiles),
                *preflight.write_problems([(settings.report_dir, "the report")])]
    for problem in problems:
        print(f"plan-harness: error: {problem}", file=sys.stderr)
    if problems:
        return EXIT_USAGE
    cases = sum(len(s.cases) for s in inputs.scenarios)
    print(f"ok: {len(inputs.scenarios)} scenarios, {cases} cases, "
          f"profiles {', '.join(project.profiles())}")
    return EXIT_OK


def command_init(args: argparse.Namespace) -> int:
    directory = args.directory.absolute()
    written = scaffold.write_project(directory)
    print(f"wrote a plan-harness project to {directory} ({len(written)} files):")
    for path in written:
        print(f"  {path.relative_to(directory)}")
    print(f"next:\n  plan-harness run --project-dir {args.directory}    "
          "# seed, check the scenario, write reports/\n"
          f"  cd {args.directory} && pytest -m plans    # the same, as pytest items\n"
          "then replace the schema, generator, profiles and scenario with your own: "
          "docs/writing-a-project.md in the plan-harness repository describes every file")
    return EXIT_OK


def command_report(args: argparse.Namespace) -> int:
    if (args.results is None) == (args.history is None):
        raise HarnessError("report: give RESULTS.json or --history DIR (one of them)")
    if args.history is not None:
        if args.compare is not None:
            raise HarnessError("report: --compare compares two runs; --history draws a series")
        history = load_history(args.history)
        path = write_history(history, args.out or args.history)
        print(f"history of {len(history.rows)} item plan modes over {len(history.runs)} runs: "
              f"{path}")
        return EXIT_OK
    paths = rerender(args.results, args.out, args.compare)
    _print_paths(paths)
    return EXIT_OK


def _print_paths(paths: ReportPaths) -> None:
    print(f"report: {paths.html}\nsummary: {paths.summary}\nresults: {paths.results}")


def command_cache(args: argparse.Namespace) -> int:
    root = Path(args.cache_dir or os.environ.get("PLAN_HARNESS_CACHE_DIR") or
                default_cache_dir())
    cache = BuildCache(root)
    if args.action == "prune":
        removed = cache.prune(older_than_days=args.older_than,
                              unused_since=_timestamp("--unused-since", args.unused_since))
        print(f"removed {len(removed)} entries from {root}")
        return EXIT_OK
    entries = cache.entries()
    for e in entries:
        print(f"{e.key}  {e.created_at}  {human_size(e.size_bytes):>10}  "
              f"profile={e.inputs.get('profile')} seed={e.inputs.get('seed')} "
              f"revision={e.inputs.get('revision')} postgres={e.inputs.get('postgres')}")
    total = sum(e.size_bytes for e in entries)
    print(f"{len(entries)} entries, {human_size(total)} in {root}")
    return EXIT_OK


def _timestamp(flag: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise HarnessError(f"{flag}: {text!r} is not an ISO 8601 time "
                           "(e.g. 2026-11-30T10:00:00)") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


Selection = list[tuple[Scenario, Case]]


def _settings_and_selection(args: argparse.Namespace,
                            **overrides: str) -> tuple[Config, Project, Selection]:
    root = args.project_dir.resolve()
    given: dict[str, object] = {o.name: getattr(args, o.name, None) for o in OPTIONS}
    given |= overrides
    settings = resolve_settings(root, given)
    project = _project(args)
    scenarios = preflight.check_run(settings, project, _revisions_given(args, settings),
                                    _write_problems(args, settings))
    selected = [
        (s, c)
        for s in scenarios
        for c in s.cases
        if not args.keyword or args.keyword in f"{s.name}[{c.id}]"
    ]
    if not selected:
        raise HarnessError(f"-k {args.keyword!r} selects no scenario case")
    return settings, project, selected


def _revisions_given(args: argparse.Namespace, settings: Config) -> list[preflight.Given]:
    """The revisions a command will move through, in order, named as they were given."""
    if args.command == "compare":
        return [("--base", args.base), ("--head", args.head)]
    if args.command == "capacity-review":
        return [("--before", settings.revision), ("--head", args.head)]
    return [("--plans-revision", settings.revision)]


def _write_problems(args: argparse.Namespace, settings: Config) -> list[str]:
    """Where a command writes, checked before it starts: one line per place it cannot."""
    if args.command == "stats":
        out = args.out.absolute()
        problem = preflight.writable_dir_problem(out.parent, "the statistics", named=out)
        return [problem] if problem else []
    return preflight.write_problems([(settings.report_dir, "the report")])


def command_run(args: argparse.Namespace) -> int:
    """Exit 0 when every item passed or warned; 1 when a check failed, the migration check
    failed, or an item of the baseline is missing or errors; 2 when, short of that, an item
    could not be measured: a scenario or project that is broken, not a plan that
    regressed."""
    root = args.project_dir.resolve()
    settings, project, selected = _settings_and_selection(args)
    with PlanRun(settings, project, _progress) as run:
        for line in run.migration_failures:
            print(f"FAIL  {line}", flush=True)
        for scenario, case in selected:
            _run_one(run, scenario, case, root)
        run.note_missing(all_item_ids(project))
        run.save_baseline()
    _print_annotations(run, settings, root)
    paths = write_report(settings.report_dir, run.facts, run.results, root)
    counts = load_results(paths.results)["counts"]
    summary = counts_line(counts)
    if settings.migration_check:
        summary += f"; migration check {'failed' if run.migration_failures else 'passed'}"
    for item in run.facts.missing:
        print(f"FAIL  {item}: in the baseline, no longer in the scenarios", flush=True)
    print(summary)
    _print_paths(paths)
    errored = {item_id(r.scenario, r.case) for r in run.results if r.verdict.outcome == "error"}
    # an item the baseline has ran before: its error now is a regression, not bad input
    regressed = bool(counts["fail"] or run.migration_failures or run.facts.missing
                     or errored & set(run.references))
    if regressed:
        return EXIT_FAILED
    return EXIT_USAGE if errored else EXIT_OK


def command_compare(args: argparse.Namespace) -> int:
    """Base, migrate, head, on one database. Exit 1 when the head regressed (an item got
    worse, errors or is missing at head, reads more buffers beyond the tolerance, or got
    slower beyond the noise; or the migration check failed), not for failures both share;
    2 when items fail at both revisions with nothing regressed (the scenario is broken)."""
    root = args.project_dir.resolve()
    settings, project, selected = _settings_and_selection(args, revision=args.base)
    aside = (contextlib.redirect_stdout(sys.stderr) if args.markdown_only
             else contextlib.nullcontext(sys.stdout))
    with aside, PlanRun(replace(settings, migration_check=False), project, _progress) as run:
        for scenario, case in selected:
            _run_one(run, scenario, case, root, prefix="base ", details=False)
        base = write_report(settings.report_dir / "base", run.facts, run.results, root)
        base_revision, base_results = run.facts.revision, list(run.results)
        run.migrate(args.head, under_load=settings.migration_check)
        run.use_reference(base_results, f"at revision {base_revision}")
        for line in run.migration_failures:
            print(f"FAIL  {line}", flush=True)
        for scenario, case in selected:
            _run_one(run, scenario, case, root, prefix="head ")
    _print_annotations(run, settings, root)
    before = load_results(base.results)
    paths = write_report(settings.report_dir, run.facts, run.results, root, before=before)
    print(paths.summary.read_text(), end="", flush=True)
    with (contextlib.redirect_stdout(sys.stderr) if args.markdown_only
          else contextlib.nullcontext(sys.stdout)):
        _print_paths(paths)
        print(f"base report: {base.html}")
    comparison = compare(load_results(paths.results), before)
    if comparison.regressed or run.migration_failures:
        return EXIT_FAILED
    return EXIT_USAGE if comparison.broken_everywhere else EXIT_OK


def command_capacity_review(args: argparse.Namespace) -> int:
    """Exit codes as compare's: 1 when the head regressed against the revision before (or
    the migration check failed), 2 when items error at both."""
    root = args.project_dir.resolve()
    project = _project(args)
    writes_of(project)  # refused before a server starts
    before = args.before or project.load_revision
    settings, project, selected = _settings_and_selection(args, revision=before)
    if settings.migration_check and not project.migration_writer:
        # said now, not after every case has run at the revision before
        raise HarnessError(f"{project.manifest}: migration_check.writer: missing "
                           "(--plans-migration-check on needs the INSERT it repeats)")
    command = f"plan-harness capacity-review --before {before} --head {args.head} " \
              f"--plans-profile {settings.profile} --plans-seed {settings.seed}"

    def show(result: CaseResult, phase: str) -> None:
        verdict = result.verdict
        line = f"{verdict.outcome.upper():5} {phase} {item_id(result.scenario, result.case)}"
        print(f"{line}: {verdict.first_reason}" if verdict.first_reason else line, flush=True)

    review = capacity_review(settings, project, selected, before, args.head, command,
                             _progress, show)
    base = write_report(settings.report_dir / "before", review.before_facts, review.before,
                        root)
    before_document = load_results(base.results)
    paths = write_review_report(
        settings.report_dir, review.head_facts, review.head, before_document,
        {"before_revision": review.before_facts.revision,
         "head_revision": review.head_facts.revision, "command": command}, root)
    print(paths.summary.read_text(), end="", flush=True)
    _print_paths(paths)
    print(f"before report: {base.html}")
    for line in review.migration_failures:
        print(f"FAIL  {line}", flush=True)
    comparison = compare(load_results(paths.results), before_document)
    if comparison.regressed or review.migration_failures:
        return EXIT_FAILED
    return EXIT_USAGE if comparison.broken_everywhere else EXIT_OK


def command_budgets(args: argparse.Namespace) -> int:
    root = args.project_dir.resolve()
    settings, project, selected = _settings_and_selection(args)
    with PlanRun(settings, project, _progress) as run:
        for scenario, case in selected:
            _run_one(run, scenario, case, root, details=False)
    proposals = budgets.propose(run.results)
    print(f"\n{'item':60} {'buffers':>9} {'p95 ms':>8}  ->  budget buffers, p95 ms")
    for p in proposals:
        print(f"{p.item:60} {p.shared_buffers:9,} {p.p95_ms:8.2f}  ->  {p.budget_buffers:,}, "
              f"{p.budget_p95_ms}")
    canaries = [m.canary.median_ms for r in run.results for m in r.measurements if m.canary]
    canary = statistics.median(canaries) if canaries else None
    if canary is not None:
        print(f"noise canary: median {canary:.3f} ms over {len(canaries)} plan modes")
    if not args.write:
        print(f"{len(proposals)} budgets proposed for profile {settings.profile}; --write puts "
              "them into the scenario files")
        return EXIT_OK
    by_file: dict[Path, list[budgets.Proposal]] = {}
    for p in proposals:
        by_file.setdefault(p.path, []).append(p)
    for path, chosen in by_file.items():
        budgets.write_case_budgets(path, settings.profile, chosen)
    if canary is not None:
        budgets.record_canary(project.manifest, canary)
    print(f"{len(proposals)} case budgets for profile {settings.profile} written to "
          f"{len(by_file)} scenario files" + ("" if canary is None else
                                              f"; canary_ms recorded in {project.manifest}"))
    return EXIT_OK


def command_mutation_proof(args: argparse.Namespace) -> int:
    settings, project, _ = _settings_and_selection(args)
    report = mutation.mutation_proof(settings, project, args.index, _progress)
    settings.report_dir.mkdir(parents=True, exist_ok=True)
    json_path = settings.report_dir / "mutation-proof.json"
    markdown_path = settings.report_dir / "mutation-proof.md"
    markdown = mutation.report_markdown(report)
    write_atomically(json_path, mutation.report_json(report), "the mutation proof")
    write_atomically(markdown_path, markdown, "the mutation proof")
    print(markdown, end="")
    print(f"json: {json_path}\nmarkdown: {markdown_path}")
    return EXIT_FAILED if report.missed else EXIT_OK


def _print_annotations(run: PlanRun, settings: Config, root: Path) -> None:
    for line in failure_annotations(run.results, root, settings.annotations):
        print(line, flush=True)


def command_stats(args: argparse.Namespace) -> int:
    if args.action == "stamp":
        return command_stats_stamp(args)
    if args.onto is not None:
        raise HarnessError("stats capture: --onto is for stats stamp")
    settings, project, _ = _settings_and_selection(args)
    with PlanRun(settings, project, _progress) as run:
        label = (f"{run.facts.server}, revision {run.facts.revision}"
                 + ("" if run.existing_db else f", profile {settings.profile}, "
                    f"seed {settings.seed}"))
        statistics = capture(run.connection, label, project.anchors,
                             project.profile(settings.profile).planner, project.manifest)
    write_statistics(args.out, statistics)
    tables = sum(1 for r in statistics["relations"] if r["kind"] == "table")
    print(f"statistics of {tables} tables, {len(statistics['relations']) - tables} indexes "
          f"and {len(statistics['columns'])} columns written to {args.out}")
    return EXIT_OK


def command_stats_stamp(args: argparse.Namespace) -> int:
    """Exit 0 when every plan agreed (the file gates), 1 when one did not (the file is
    written all the same: a projected run with it is a preview)."""
    if args.onto is None:
        raise HarnessError("stats stamp: --onto PROFILE is missing (the small profile the "
                           "statistics are projected onto)")
    settings, project, _ = _settings_and_selection(args)
    stats_stamp.check_profiles(project, settings.profile, args.onto)
    stamped = stats_stamp.stamp(settings, project, args.onto, _progress)
    fidelity = stamped.fidelity
    for d in fidelity.disagreements:
        print(f"DIFFER {d.item} {d.mode}: {settings.profile} {d.real}; projected onto "
              f"{args.onto} {d.projected}", flush=True)
    for item in fidelity.missing:
        print(f"MISSING {item}: planned on one side only", flush=True)
    costs = fidelity.cost_summary()
    write_statistics(args.out, stamped.statistics)
    print(f"{fidelity.agreed} of {fidelity.compared} plans agreed projected onto {args.onto} "
          f"at revision {stamped.statistics['fidelity']['revision']}"
          + (f" (cost of agreeing plans: median x{costs['median_ratio']}, worst factor "
             f"{costs['worst_factor']})" if costs else "")
          + f"; statistics with this check written to {args.out}")
    agreed = fidelity.agreed == fidelity.compared != 0 and not fidelity.missing
    return EXIT_OK if agreed else EXIT_FAILED


def command_comment(args: argparse.Namespace) -> int:
    try:
        summary = args.body.read_text()
    except OSError as exc:
        raise HarnessError(f"{args.body}: cannot read the comment: "
                           f"{exc.strerror or exc}") from None
    thread = thread_from_environment(args.forge, os.environ, args.number)
    done = post_sticky(thread, comment_body(summary, args.marker, args.link), args.marker)
    print(f"comment {args.marker!r} {done}: {thread.comments_url}")
    return EXIT_OK


def command_build(args: argparse.Namespace) -> int:
    settings, project, _ = _settings_and_selection(args)
    with PlanRun(settings, project, _progress) as run:
        kept = run.facts.cache or "not kept (the cache is used with the embedded provider only)"
    print(f"profile {settings.profile} at revision {run.facts.revision}: {kept}")
    return EXIT_OK


def _run_one(run: PlanRun, scenario: Scenario, case: Case, root: Path,
             prefix: str = "", details: bool = True) -> bool:
    """Runs one item and prints its verdict line: FAIL, ERROR and WARN with their first
    reason, the whole failure below a FAIL when `details`."""
    result = run.run_case(scenario, case)
    verdict = result.verdict
    line = f"{verdict.outcome.upper():5} {prefix}{item_id(scenario, case)}"
    print(f"{line}: {verdict.first_reason}" if verdict.first_reason else line, flush=True)
    if details and verdict.outcome == "fail":
        print(failure_text(result, root), flush=True)
    return verdict.passed


def _interrupt_on_sigterm() -> None:
    # SIGTERM (a CI job cancelled, `kill`) unwinds like Ctrl-C, so the server stops and the
    # harness database is dropped instead of the process vanishing mid-build.
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _interrupt_on_sigterm()
    try:
        if args.command == "validate":
            return command_validate(args)
        if args.command == "cache":
            return command_cache(args)
        if args.command == "report":
            return command_report(args)
        if args.command == "compare":
            return command_compare(args)
        if args.command == "stats":
            return command_stats(args)
        if args.command == "capacity-review":
            return command_capacity_review(args)
        if args.command == "budgets":
            return command_budgets(args)
        if args.command == "mutation-proof":
            return command_mutation_proof(args)
        if args.command == "build":
            return command_build(args)
        if args.command == "comment":
            return command_comment(args)
        if args.command == "init":
            return command_init(args)
        return command_run(args)
    except HarnessError as exc:
        print(f"plan-harness: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("plan-harness: interrupted; server stopped and database removed", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
