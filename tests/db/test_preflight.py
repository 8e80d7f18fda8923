"""Bad input is refused before the work: everything checkable without a server is checked
by `validate` and at the start of every run, each problem in one line with exit 2 (pytest:
a usage error, 4, or a collection error, 2), and nothing is started or left behind."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.project.scenarios import read_scenario
from support import CliResult, copy_sample_project, embedded_postgres_pids, run_cli

CONFTEST = '''from pathlib import Path

ROOT = Path(__file__).parent


def pytest_plans_locations(config):
    return {"scenarios": ROOT / "scenarios", "fixtures": ROOT / "fixtures"}
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_sample_project(tmp_path / "project", 'plans_profile = "small"\nplans_runs = 3\n')


def cli(project: Path, *args: str) -> CliResult:
    """`plan-harness ARGS --project-dir PROJECT`, in this process: each refusal here comes
    before any server, so a process of its own would only add its start-up."""
    return run_cli(*args, "--project-dir", str(project))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def errors(result: CliResult) -> list[str]:
    return result.stderr.strip().splitlines()


Breakage = Callable[[Path], None]
SCENARIO = "scenarios/account_feed.toml"


def no_env_py(project: Path) -> None:
    (project / "fixtures" / "migrations" / "env.py").unlink()


def broken_down_revision(project: Path) -> None:
    edit(project / "fixtures" / "migrations" / "versions" / "0002_index.py",
         'down_revision = "0001"', 'down_revision = "0000"')


def wrong_load_revision(project: Path) -> None:
    edit(project / "fixtures" / "project.toml", 'load_revision = "0001"',
         'load_revision = "0007"')


def unknown_key(table: str, line: str) -> Breakage:
    def apply(project: Path) -> None:
        edit(project / "fixtures" / "project.toml", f"[{table}]\n", f"[{table}]\n{line}\n")
    return apply


def unknown_profile_key(project: Path) -> None:
    edit(project / "fixtures" / "profiles.toml", "[small.data]", 'descripton = "x"\n[small.data]')


def unknown_anchor(project: Path) -> None:
    edit(project / SCENARIO, "@busiest_account", "@busiest_acount")


def misspelt_table(project: Path) -> None:
    edit(project / SCENARIO, 'table = "events"', 'table = "evnts"')


def misspelt_budget_profile(project: Path) -> None:
    edit(project / SCENARIO, "shared_buffers = { small = 500 }",
         "shared_buffers = { smal = 500 }")


def generator_syntax_error(project: Path) -> None:
    with (project / "fixtures" / "datagen.py").open("a") as generator:
        generator.write("\ndef broken(:\n")


def generator_import_error(project: Path) -> None:
    edit(project / "fixtures" / "datagen.py", "from harness import Bound, LoadContext",
         "from harness import Bound, LoadContext, Bund")


BAD_INPUTS = {
    "no env.py": (no_env_py, "fixtures/project.toml: schema.migrations: ",
                  "has no env.py (not an Alembic migrations folder)"),
    "broken chain": (broken_down_revision, "fixtures/migrations: the migrations do not load: ",
                     "Revision 0000 referenced from 0000 -> 0002"),
    "wrong load_revision": (wrong_load_revision, "fixtures/project.toml: schema.load_revision: ",
                            "unknown revision '0007'"),
    "unknown key in [checks]": (unknown_key("checks", "seq_scan_min_row = 5"),
                                "fixtures/project.toml: checks.seq_scan_min_row: ",
                                "unknown field (allowed: canary_ms, misestimate_factor, seq_scan_min_rows)"),
    "unknown key in [schema]": (unknown_key("schema", 'migration = "m"'),
                                "fixtures/project.toml: schema.migration: ", "unknown field"),
    "unknown key in [data]": (unknown_key("data", 'generators = "g.py"'),
                              "fixtures/project.toml: data.generators: ", "unknown field"),
    "unknown key in profiles.toml": (unknown_profile_key, "fixtures/profiles.toml: ",
                                     "small.descripton: unknown field"),
    "unknown anchor": (unknown_anchor, f"{SCENARIO}: cases[0].values.account_id: ",
                       "unknown anchor @busiest_acount (defined in project.toml: "
                       "busiest_account, last_event)"),
    "misspelt table": (misspelt_table, f"{SCENARIO}: table: ",
                       "'evnts' does not appear in the SQL"),
    "misspelt budget profile": (misspelt_budget_profile,
                                f"{SCENARIO}: budget.shared_buffers.smal: ",
                                "unknown profile 'smal' (profiles in profiles.toml: small)"),
    "generator syntax error": (generator_syntax_error,
                               "fixtures/datagen.py: the data generator does not import: ",
                               "SyntaxError: invalid syntax (datagen.py, line"),
    "generator import error": (generator_import_error,
                               "fixtures/datagen.py: the data generator does not import: ",
                               "ImportError: cannot import name 'Bund'"),
}


def one_error(result: CliResult, where: str, problem: str) -> str:
    """The result is exit 2 with exactly one line, naming the file and field."""
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = errors(result)
    assert line.startswith("plan-harness: error: "), line
    assert where in line and problem in line, line
    assert "Traceback" not in result.stderr
    return line


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_validate_refuses_bad_input_in_one_line(project: Path, name: str) -> None:
    breakage, where, problem = BAD_INPUTS[name]
    assert cli(project, "validate").returncode == 0
    breakage(project)
    one_error(cli(project, "validate"), where, problem)


@pytest.mark.parametrize("name", ["no env.py", "unknown anchor", "misspelt budget profile",
                                  "generator syntax error", "unknown key in [checks]"])
def test_run_refuses_bad_input_before_any_server(project: Path, name: str) -> None:
    breakage, where, problem = BAD_INPUTS[name]
    breakage(project)
    before = set(embedded_postgres_pids())
    result = cli(project, "run")
    one_error(result, where, problem)  # the only line: no "server:", no seeding
    assert set(embedded_postgres_pids()) <= before
    assert not (project / "reports").exists()


def test_validate_reports_every_broken_file(project: Path) -> None:
    scenarios = project / "scenarios"
    (scenarios / "a_missing_sql.toml").write_text('table = "events"\n')
    (scenarios / "z_unknown_anchor.toml").write_text(
        (scenarios / "account_feed.toml").read_text().replace("@last_event", "@first_event"))
    result = cli(project, "validate")
    assert result.returncode == 2
    assert errors(result) == [
        f"plan-harness: error: {scenarios / 'a_missing_sql.toml'}: sql: missing",
        f"plan-harness: error: {scenarios / 'z_unknown_anchor.toml'}: cases[0].values.since: "
        "unknown anchor @first_event (defined in project.toml: busiest_account, last_event)",
    ]
    assert result.stdout == ""


def test_a_scenario_directory_without_a_scenario_file_is_an_error(project: Path) -> None:
    scenarios = project / "scenarios"
    (scenarios / "account_feed.toml").rename(scenarios / "account_feed.yaml")
    one_error(cli(project, "validate"), f"{scenarios}: ",
              "no scenario file (*.toml) (it holds account_feed.yaml)")
    one_error(cli(project, "run"), f"{scenarios}: ", "no scenario file (*.toml)")


def test_a_report_directory_under_a_file_is_refused_before_the_run(project: Path,
                                                                   tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    result = cli(project, "run", f"--plans-report-dir={blocker / 'reports'}")
    one_error(result, f"{blocker / 'reports'}: cannot write the report: ",
              f"{blocker} is not a directory")
    assert blocker.read_text() == ""


def test_an_unwritable_report_directory_is_refused_before_the_run(project: Path) -> None:
    # /proc/self takes no new files, even from root
    result = cli(project, "run", "--plans-report-dir=/proc/self/reports")
    one_error(result, "/proc/self/reports: cannot write the report: /proc/self: ", "")


@pytest.mark.parametrize(("args", "message"), [
    (("run", "--plans-revision", "0009"), "unknown revision '0009'"),
    (("compare", "--base", "0001", "--head", "0009"), "unknown revision '0009'"),
    (("compare", "--base", "0002", "--head", "0002"),
     "--head: revision 0002 is not after 0002: nothing to migrate"),
    (("run", "--plans-profile", "smal"), "unknown profile 'smal' (known in "),
])
def test_revisions_and_profiles_are_checked_before_the_run(project: Path, args: tuple[str, ...],
                                                           message: str) -> None:
    one_error(cli(project, *args), "", message)
    assert not (project / "reports").exists()


def test_literal_percent_signs_in_sql_strings_are_text(tmp_path: Path) -> None:
    path = tmp_path / "search.toml"
    path.write_text('''table = "contacts"
sql = """
SELECT * FROM contacts WHERE name LIKE '%smith%' AND note <> E'100%s\\\\' done'
  AND tag = '%(not_a_parameter)s' AND id = %(id)s  -- 5%s off
"""
[expect]
index = "contacts_pkey"
[[cases]]
name = "one"
values = { id = 1 }
''')
    scenario = read_scenario(path)
    assert scenario.parameters == ("id",)
    assert scenario.positional_sql() == (
        "SELECT * FROM contacts WHERE name LIKE '%smith%' AND note <> E'100%s\\' done'\n"
        "  AND tag = '%(not_a_parameter)s' AND id = $1  -- 5%s off")


def test_a_positional_placeholder_in_the_code_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "positional.toml"
    path.write_text('table = "t"\nsql = "SELECT * FROM t WHERE name LIKE \'%x%\' AND id = %s"\n'
                    '[expect]\nindex = "i"\n[[cases]]\nname = "n"\n')
    with pytest.raises(ScenarioError, match=r"positional\.toml: sql: use named placeholders "
                                            r"%\(name\)s, not %s$"):
        read_scenario(path)


# --- pytest -------------------------------------------------------------------------------


def write_conftest(project: Path) -> None:
    (project / "conftest.py").write_text(CONFTEST)


PytestIn = Callable[..., CliResult]


@pytest.fixture
def pytest_in(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> PytestIn:
    """`pytest ARGS` started in a project's directory, in this process (pytester's in-process
    run): its exit code and output, read like plan-harness's."""
    def run(project: Path, *args: str) -> CliResult:
        monkeypatch.chdir(project)
        result = pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)
        return CliResult(int(result.ret), result.stdout.str(), result.stderr.str())
    return run


def test_pytest_refuses_an_unknown_anchor_at_collection(project: Path,
                                                        pytest_in: PytestIn) -> None:
    write_conftest(project)
    unknown_anchor(project)
    result = pytest_in(project, "-m", "plans")
    assert result.returncode == pytest.ExitCode.INTERRUPTED  # pytest's collection error
    assert ("account_feed.toml: cases[0].values.account_id: unknown anchor @busiest_acount"
            in result.stdout)
    assert "plan-harness: server" not in result.stdout


def test_pytest_refuses_a_bad_report_directory_at_start(project: Path, tmp_path: Path,
                                                        pytest_in: PytestIn) -> None:
    write_conftest(project)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    result = pytest_in(project, "-m", "plans", f"--plans-report-dir={blocker / 'r'}")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.strip() == (f"ERROR: plan-harness: {blocker / 'r'}: cannot write the "
                                     f"report: {blocker} is not a directory")


def test_pytest_without_its_config_file_stops_instead_of_ignoring_it(
        project: Path, tmp_path: Path, pytest_in: PytestIn) -> None:
    write_conftest(project)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    result = pytest_in(project, "-m", "plans", "--plans-report-dir", str(outside))
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.strip() == (
        f"ERROR: plan-harness: pytest found no config file, so the settings in "
        f"{project / 'pyproject.toml'} were not read: a value after a space "
        "(--plans-report-dir DIR) is taken for a test path to look for the config from; "
        f"write --plans-report-dir=DIR (or -c {project / 'pyproject.toml'})")
    assert "plan-harness: server" not in result.stdout
    assert list(outside.iterdir()) == []

    result = pytest_in(project, "-m", "plans", f"--plans-report-dir={outside}")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    document = json.loads((outside / "results.json").read_text())
    assert document["run"]["profile"] == "small"  # read from pyproject.toml


@pytest.mark.parametrize(("content", "problem"), [
    (None, "no such baseline file (--plans-update-baseline writes one)"),
    ("[baseline\n", "not a readable baseline: "),
    ('[baseline]\nformat = 1\nprofile = "other"\n', "baseline.profile: 'other', but this run "
                                                    "is at profile 'small'"),
])
def test_a_baseline_that_cannot_be_used_is_refused_before_the_run(
        project: Path, content: str | None, problem: str) -> None:
    baseline = project / "plans-baseline.toml"
    if content is not None:
        baseline.write_text(content)
    one_error(cli(project, "run", f"--plans-baseline={baseline}"), f"{baseline}: ", problem)
    assert not (project / "reports").exists()


@pytest.mark.parametrize(("setting", "problem"), [
    ('plans_revision = "0009"', "unknown revision '0009'"),
    ('plans_profile = "smal"', "unknown profile 'smal' (known in "),
    ('plans_report_dir = "pyproject.toml/reports"', "cannot write the report: "),
])
def test_validate_checks_the_settings_a_run_would_take(project: Path, setting: str,
                                                       problem: str) -> None:
    profile = "" if setting.startswith("plans_profile") else 'plans_profile = "small"\n'
    (project / "pyproject.toml").write_text(f"[tool.pytest.ini_options]\n{profile}{setting}\n")
    one_error(cli(project, "validate"), "", problem)
