"""Hookspec: how a repository tells the plan-harness plugin where its project lives."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.hookspec(firstresult=True)
def pytest_plans_locations(config: pytest.Config) -> dict[str, Any] | None:
    """Return {"scenarios": dir, "fixtures": dir} to activate plan checks (the repository's
    conftest.py implements it); without an answer the plugin collects nothing."""
