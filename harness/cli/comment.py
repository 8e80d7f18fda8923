"""`plan-harness comment`: the summary as one sticky pull- or merge-request comment."""

from __future__ import annotations

import argparse
import os

from harness.cli.exits import EXIT_OK
from harness.errors import HarnessError
from harness.report.comment import comment_body, post_sticky, thread_from_environment


def command(args: argparse.Namespace) -> int:
    try:
        summary = args.body.read_text()
    except OSError as exc:
        raise HarnessError(f"{args.body}: cannot read the comment: "
                           f"{exc.strerror or exc}") from None
    thread = thread_from_environment(args.forge, os.environ, args.number)
    done = post_sticky(thread, comment_body(summary, args.marker, args.link), args.marker)
    print(f"comment {args.marker!r} {done}: {thread.comments_url}")
    return EXIT_OK
