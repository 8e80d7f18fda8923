"""The command line: every command and its arguments, with the --plans-* settings from the one
option table (harness.config.OPTIONS). Building it imports no command and no database
driver."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from harness import __version__
from harness.cli.exits import EXIT_USAGE
from harness.config import OPTIONS
from harness.report.comment import FORGES


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
        "regressed), 2 bad input or environment (run: an item could not be measured and "
        "nothing regressed), 130 interrupted.",
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
                        help="a run to compare with, as the base (e.g. the revision "
                             "before a migration): adds regressions and base/head tables")
    report.add_argument("--out", type=Path, metavar="DIR", default=None,
                        help="where to write (default: the directory of RESULTS.json)")
    compare_cmd = commands.add_parser(
        "compare", help="run every scenario at a base revision, migrate the same database to "
        "the head revision, run again, and print the difference as Markdown")
    base = compare_cmd.add_mutually_exclusive_group(required=True)
    base.add_argument("--base", metavar="REV",
                      help="the revision to start from (e.g. main's head)")
    base.add_argument("--base-ref", metavar="REF",
                      help="start from the head revision of the migrations as git ref REF has "
                           "them (the target branch of a pull request: origin/main); it must "
                           "be in this branch's chain")
    compare_cmd.add_argument("--head", default="head", metavar="REV",
                         help="the revision to migrate to (default: the newest)")
    budgets_cmd = commands.add_parser(
        "budgets", help="run every scenario and propose per-case budgets per plan mode from "
        "the measured shared buffers (ceil(x1.25) + 16) and p95 (ceil(x5) + 20 ms), beside the "
        "budgets in force; --write puts them into the scenario files")
    budgets_cmd.add_argument("--write", action="store_true",
                             help="write each case's budgets for the profile into its scenario "
                                  "file, and the run's noise canary into project.toml")
    definitions_cmd = commands.add_parser(
        "definitions", help="build (or reuse) the database and show each expected index's "
        "definition beside the one its scenario recorded; --write records them, so a run fails "
        "when an index is redefined under the same name")
    definitions_cmd.add_argument("--write", action="store_true",
                                 help="record the definitions in [expect.definitions] of each "
                                      "scenario file")
    mutation_cmd = commands.add_parser(
        "mutation-proof", help="drop, narrow or invalidate each index in turn, run the cases, "
        "and say whether the suite noticed (caught, redundant, unused or missed); exit 1 on a "
        "miss")
    mutation_cmd.add_argument("--index", action="append", default=None, metavar="NAME",
                              help="an index to mutate (repeatable; default: project.toml's "
                                   "[mutation_proof] indexes, else every non-primary-key index "
                                   "on a table the plans read)")
    mutation_cmd.add_argument("--kind", action="append", default=None,
                              choices=("drop", "fewer_columns", "invalid"),
                              help="a way to mutate each index (repeatable; default: all: "
                                   "drop it, rebuild it without its last key column, mark it "
                                   "invalid)")
    compare_cmd.add_argument("--markdown-only", action="store_true",
                             help="print only the Markdown summary (and annotations) on "
                                  "stdout, ready for a pull-request comment; the per-item "
                                  "lines and report paths go to stderr")
    review_cmd = commands.add_parser(
        "capacity-review", help="the capacity review in one report: every case before the "
        "reviewed migration and at head on one database, the endpoints' claimed and measured "
        "speed-ups, sizes, the write cost and index growth under the project's "
        "[capacity_review] writer, all measured in this run")
    review_cmd.add_argument("--base", "--before", dest="base", default=None, metavar="REV",
                            help="the base revision, before the reviewed migration (default: "
                                 "the project's load revision, schema.load_revision; --before "
                                 "is its older name)")
    review_cmd.add_argument("--head", default="head", metavar="REV",
                            help="the revision reviewed (default: the newest)")
    advise_cmd = commands.add_parser(
        "advise", help="which indexes should the schema have? Candidates (the head's, "
        "project.toml's [advise] ones, ones derived from the plans, drops) built for real, "
        "each set measured in a rolled-back transaction, a set chosen under budgets; writes "
        "a report, advice.json and an Alembic migration")
    advise_cmd.add_argument("--check", action="store_true",
                            help="exit 1 when the head's set is dominated: a set reads less "
                                 "at no more write cost and size (for CI)")
    advise_cmd.add_argument("--max-size-ratio", type=float, default=None, metavar="X",
                            help="total index size at most X times the head's (default: "
                                 "[advise] max_size_ratio, else 1.5)")
    advise_cmd.add_argument("--max-write-ratio", type=float, default=None, metavar="X",
                            help="WAL bytes per written row at most X times the head's "
                                 "(default: [advise] max_write_ratio, else 1.0)")
    advise_cmd.add_argument("--max-indexes", type=int, default=None, metavar="N",
                            help="at most N indexes that enforce no constraint (default: "
                                 "[advise] max_indexes, else no limit of its own)")
    advise_cmd.add_argument("--write-rows", type=int, default=2000, metavar="N",
                            help="rows per write-cost round (at most [capacity_review] "
                                 "write_rows; default 2000)")
    advise_cmd.add_argument("--write-rounds", type=int, default=2, metavar="N",
                            help="write-cost rounds per set (default 2; 0: not measured)")
    advise_cmd.add_argument("--fresh", action="store_true",
                            help="ignore the measurements an interrupted advise kept in "
                                 "the report directory")
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
    init.add_argument("--ci", choices=("github", "gitlab"), default=None,
                      help="also write the CI file: .github/workflows/plans.yml or "
                           ".gitlab-ci.yml (the plans on every change; on a pull or merge "
                           "request, compare --base-ref with the target branch and one "
                           "comment)")
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
    for sub in (run, compare_cmd, stats_cmd, build, validate, budgets_cmd, definitions_cmd,
                mutation_cmd, review_cmd, advise_cmd):
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
    for sub in (run, compare_cmd, stats_cmd, build, budgets_cmd, definitions_cmd, mutation_cmd,
                review_cmd, advise_cmd):
        sub.add_argument(
            "-k",
            dest="keyword",
            default=None,
            help="only items whose id (scenario[case]) contains this text"
            if sub in (run, compare_cmd, budgets_cmd, review_cmd, advise_cmd)
            else argparse.SUPPRESS,
        )
        group = sub.add_argument_group(
            "settings (also plans_* keys in the pytest config file: pyproject.toml's "
            "[tool.pytest] or [tool.pytest.ini_options], pytest.toml, pytest.ini, ...)"
        )
        for option in OPTIONS:
            if option.name == "base_revision" or (sub in (compare_cmd, review_cmd)
                                                  and option.name == "revision"):
                continue  # compare's --base and --head say it, capacity-review's --base
            flags, settings = option.argument(option.name)
            group.add_argument(*flags, **settings)
    return parser
