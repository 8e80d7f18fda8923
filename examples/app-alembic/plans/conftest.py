"""Points the plan-harness pytest plugin at the plans: `pytest -m plans` in this folder."""

from pathlib import Path

import pytest

ROOT = Path(__file__).parent


def pytest_plans_locations(config: pytest.Config) -> dict[str, Path]:
    return {"scenarios": ROOT / "scenarios", "fixtures": ROOT / "fixtures"}
