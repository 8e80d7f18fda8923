"""CLI: `plan-harness run` (the main job: provision, migrate, seed, run every scenario, write
the report), `validate`, `report` (re-render a saved run) and `cache`, for people and CI jobs
outside pytest. `run` takes the same --plans-* options as the pytest plugin, from the same
table."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import signal
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import FrameType

from harness import __version__
from harness.annotations import failure_annotations
from harness.cache import SeedCache, default_cache_dir, human_size
from harness.comment import FORGES, comment_body, post_sticky, thread_from_environment
from harness.config import OPTIONS, Config
from harness.errors import HarnessError
from harness.project import Project, load_project
from harness.report import ReportPaths, load_results, rerender, write_report
from harness.report.analysis import compare
from harness.scenarios import Case, Scenario, load_scenarios
from harness.session import PlanRun, failure_text
from harness.stats import capture, write_statistics

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plan-harness",
        description="EXPLAIN-plan regression checks for PostgreSQL.",
        epilog="Exit codes: 0 every check passed, 1 a check failed (compare: the head "
        "regressed), 2 bad input or environment, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"plan-harness {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="seed a database and run every scenario, then write the report (the main job)"
    )
    validate = commands.add_parser(
        "validate", help="check the project and scenario files without a database"
    )
    report = commands.add_parser(
        "report", help="render index.html and summary.md from a saved results.json "
        "(no database needed)")
    report.add_argument("results", type=Path, metavar="RESULTS.json")
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
    compare_cmd.add_argument("--markdown-only", action="store_true",
                             help="print only the Markdown summary (and annotations) on "
                                  "stdout, ready for a pull-request comment; the per-item "
                                  "lines and report paths go to stderr")
    stats_cmd = commands.add_parser(
        "stats", help="capture the planner statistics of the run's database (the seeded one, "
        "or with --plans-allow-existing-db the DSN's own) to a JSON file, changing nothing")
    stats_cmd.add_argument("action", choices=("capture",))
    stats_cmd.add_argument("--out", type=Path, required=True, metavar="FILE",
                           help="where to write the statistics (JSON)")
    seed = commands.add_parser(
        "seed", help="build (or reuse) the seeded database of the profile at --plans-revision "
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
    cache = commands.add_parser("cache", help="list or prune the kept seeded databases")
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
    for sub in (run, compare_cmd, stats_cmd, seed, validate):
        sub.add_argument(
            "--project-dir",
            type=Path,
            default=Path.cwd(),
            help="repository root: pyproject.toml settings are read from here "
            "(default: current directory)",
        )
        sub.add_argument(
            "--fixtures",
            type=Path,
            default=None,
            help="fixtures directory with project.toml (default: PROJECT/fixtures)",
        )
        sub.add_argument(
            "--scenarios",
            type=Path,
            default=None,
            help="scenario directory (default: PROJECT/scenarios)",
        )
    for sub in (run, compare_cmd, stats_cmd, seed):
        sub.add_argument(
            "-k",
            dest="keyword",
            default=None,
            help="only items whose id (scenario[case]) contains this text"
            if sub in (run, compare_cmd) else argparse.SUPPRESS,
        )
        group = sub.add_argument_group(
            "settings (also plans_* keys in pyproject.toml's [tool.pytest.ini_options])"
        )
        for option in OPTIONS:
            if option.name == "base_revision" or (sub is compare_cmd
                                                  and option.name == "revision"):
                continue  # compare's --base and --head say it
            flags, settings = option.argument(option.name)
            group.add_argument(*flags, **settings)
    return parser


def pyproject_settings(project_dir: Path) -> dict[str, str | None]:
    """The plans_* keys of [tool.pytest.ini_options], as the pytest plugin reads them."""
    path = project_dir / "pyproject.toml"
    if not path.exists():
        return {}
    try:
        ini = tomllib.loads(path.read_text())["tool"]["pytest"]["ini_options"]
    except KeyError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise HarnessError(f"{path}: not valid TOML: {exc}") from None
    return {o.name: str(ini[o.ini]) for o in OPTIONS if o.ini in ini}


def _project(args: argparse.Namespace) -> Project:
    root = args.project_dir.resolve()
    return load_project(
        (args.fixtures or root / "fixtures").resolve(),
        (args.scenarios or root / "scenarios").resolve(),
    )


def _progress(message: str) -> None:
    print(f"plan-harness: {message}", file=sys.stderr, flush=True)


def command_validate(args: argparse.Namespace) -> int:
    project = _project(args)
    scenarios = load_scenarios(project.scenarios_dir)
    profiles = project.profiles()
    cases = sum(len(s.cases) for s in scenarios)
    print(f"ok: {len(scenarios)} scenarios, {cases} cases, profiles {', '.join(profiles)}")
    return EXIT_OK


def command_report(args: argparse.Namespace) -> int:
    paths = rerender(args.results, args.out, args.compare)
    _print_paths(paths)
    return EXIT_OK


def _print_paths(paths: ReportPaths) -> None:
    print(f"report: {paths.html}\nsummary: {paths.summary}\nresults: {paths.results}")


def command_cache(args: argparse.Namespace) -> int:
    root = Path(args.cache_dir or os.environ.get("PLAN_HARNESS_CACHE_DIR") or
                default_cache_dir())
    cache = SeedCache(root)
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
    given = {o.name: getattr(args, o.name, None) for o in OPTIONS} | overrides
    settings = Config.resolve(given, pyproject_settings(root), os.environ, root)
    project = _project(args)
    selected = [
        (s, c)
        for s in load_scenarios(project.scenarios_dir)
        for c in s.cases
        if not args.keyword or args.keyword in f"{s.name}[{c.id}]"
    ]
    if not selected:
        raise HarnessError(f"-k {args.keyword!r} selects no scenario case")
    return settings, project, selected


def command_run(args: argparse.Namespace) -> int:
    root = args.project_dir.resolve()
    settings, project, selected = _settings_and_selection(args)
    failed = 0
    with PlanRun(settings, project, _progress) as run:
        for line in run.migration_failures:
            print(f"FAIL  {line}", flush=True)
        for scenario, case in selected:
            failed += not _run_one(run, scenario, case, root)
        run.save_baseline()
    _print_annotations(run, settings, root)
    paths = write_report(settings.report_dir, run.facts, run.results, root)
    summary = f"{len(selected) - failed} passed, {failed} failed"
    if settings.migration_check == "on":
        summary += f"; migration check {'failed' if run.migration_failures else 'passed'}"
    print(summary)
    _print_paths(paths)
    return EXIT_FAILED if failed or run.migration_failures else EXIT_OK


def command_compare(args: argparse.Namespace) -> int:
    """Base, migrate, head, on one database; exit 1 only when the head regresses (an item's
    verdict gets worse, or the migration check fails), not for failures both share."""
    root = args.project_dir.resolve()
    settings, project, selected = _settings_and_selection(args, revision=args.base)
    aside = (contextlib.redirect_stdout(sys.stderr) if args.markdown_only
             else contextlib.nullcontext(sys.stdout))
    with aside, PlanRun(replace(settings, migration_check="off"), project, _progress) as run:
        for scenario, case in selected:
            _run_one(run, scenario, case, root, prefix="base ", details=False)
        base = write_report(settings.report_dir / "base", run.facts, run.results, root)
        run.migrate(args.head, under_load=settings.migration_check == "on")
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
    regressed = compare(load_results(paths.results), before).regressions
    return EXIT_FAILED if regressed or run.migration_failures else EXIT_OK


def _print_annotations(run: PlanRun, settings: Config, root: Path) -> None:
    for line in failure_annotations(run.results, root, settings.annotations):
        print(line, flush=True)


def command_stats(args: argparse.Namespace) -> int:
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


def command_seed(args: argparse.Namespace) -> int:
    settings, project, _ = _settings_and_selection(args)
    with PlanRun(settings, project, _progress) as run:
        kept = run.facts.cache or "not kept (the cache is used with the embedded provider only)"
    print(f"profile {settings.profile} at revision {run.facts.revision}: {kept}")
    return EXIT_OK


def _run_one(run: PlanRun, scenario: Scenario, case: Case, root: Path,
             prefix: str = "", details: bool = True) -> bool:
    item = f"{prefix}{scenario.name}[{case.id}]"
    try:
        result = run.run_case(scenario, case)
    except HarnessError as exc:
        print(f"ERROR {item}: {exc}", flush=True)
        return False
    print(f"{result.verdict.outcome.upper():5} {item}", flush=True)
    if details and not result.verdict.passed:
        print(failure_text(result, root), flush=True)
    return result.verdict.passed


def _interrupt_on_sigterm() -> None:
    # SIGTERM (a CI job cancelled, `kill`) unwinds like Ctrl-C, so the server stops and the
    # harness database is dropped instead of the process vanishing mid-seed.
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
        if args.command == "seed":
            return command_seed(args)
        if args.command == "comment":
            return command_comment(args)
        return command_run(args)
    except HarnessError as exc:
        print(f"plan-harness: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("plan-harness: interrupted; server stopped and database removed", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
