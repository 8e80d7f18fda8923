"""Points the plan-harness plugin at this repository's CSR dashboard project."""

from pathlib import Path

ROOT = Path(__file__).parent


def pytest_plans_locations(config):
    return {"scenarios": ROOT / "scenarios", "fixtures": ROOT / "fixtures"}
