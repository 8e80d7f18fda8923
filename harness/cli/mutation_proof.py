"""`plan-harness mutation-proof`: whether the suite notices each index dropped, narrowed or
marked invalid."""

from __future__ import annotations

import argparse

from harness.cli.common import (
    progress,
    settings_and_selection,
)
from harness.cli.exits import exit_code
from harness.errors import ConfigError
from harness.files import write_atomically
from harness.server.providers import provider_class
from harness.verdict.decision import Decision
from harness.workflows import mutation


def command(args: argparse.Namespace) -> int:
    settings, project, _ = settings_and_selection(args)
    provider = settings.run_options().server.provider
    if provider_class(provider).distributed:
        raise ConfigError(f"mutation-proof: not on a distributed provider ({provider}) yet: "
                          "it mutates the project's own migration chain, not the "
                          "[distribution] one; run it on one node")
    report = mutation.mutation_proof(settings.run_options(), project, args.index, progress,
                                     args.kind or mutation.KINDS)
    settings.report_dir.mkdir(parents=True, exist_ok=True)
    json_path = settings.report_dir / "mutation-proof.json"
    markdown_path = settings.report_dir / "mutation-proof.md"
    markdown = mutation.report_markdown(report)
    write_atomically(json_path, mutation.report_json(report), "the mutation proof")
    write_atomically(markdown_path, markdown, "the mutation proof")
    print(markdown, end="")
    print(f"json: {json_path}\nmarkdown: {markdown_path}")
    return exit_code(Decision(regressed=bool(report.missed)))
