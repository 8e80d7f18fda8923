"""Comment: the run's summary on the pull request (GitHub) or merge request (GitLab), one
comment per job kept up to date. The comment carries a hidden marker; a later run finds it by
the marker and edits it instead of adding another, so a pull request pushed ten times still
has one comment per job."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError

FORGES = ("github", "gitlab")
PAGE = 100


@dataclass(frozen=True)
class Thread:
    """Where a pull or merge request's comments are, and how to write them."""

    comments_url: str  # GET lists, POST adds
    headers: Mapping[str, str]
    edit_method: str  # PATCH (GitHub) or PUT (GitLab) on comments_url-ish item URLs
    item_url: str  # with {id}

    def comment_url(self, comment_id: int) -> str:
        return self.item_url.format(id=comment_id)


def thread_from_environment(forge: str, env: Mapping[str, str], number: str | None) -> Thread:
    """The request's comment thread, from the variables the CI system sets."""
    if forge == "github":
        api = env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
        repository = _required(env, "GITHUB_REPOSITORY", forge)
        token = env.get("GITHUB_TOKEN") or _required(env, "GH_TOKEN", forge)
        pull = number or _pull_number(env.get("GITHUB_REF", ""))
        return Thread(f"{api}/repos/{repository}/issues/{pull}/comments",
                      {"Authorization": f"Bearer {token}",
                       "Accept": "application/vnd.github+json"},
                      "PATCH", f"{api}/repos/{repository}/issues/comments/{{id}}")
    api = _required(env, "CI_API_V4_URL", forge).rstrip("/")
    project = _required(env, "CI_PROJECT_ID", forge)
    request = number or _required(env, "CI_MERGE_REQUEST_IID", forge)
    token = _required(env, "PLAN_HARNESS_GITLAB_TOKEN", forge)
    notes = f"{api}/projects/{project}/merge_requests/{request}/notes"
    return Thread(notes, {"PRIVATE-TOKEN": token}, "PUT", notes + "/{id}")


def _required(env: Mapping[str, str], name: str, forge: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ConfigError(f"comment --forge {forge}: {name} is not set (run this in the CI "
                          "job, or set it)")
    return value


def _pull_number(ref: str) -> str:
    match = re.fullmatch(r"refs/pull/(\d+)/(?:merge|head)", ref)
    if match is None:
        raise ConfigError(f"comment --forge github: GITHUB_REF {ref!r} is not a pull request's "
                          "ref; give --number")
    return match.group(1)


def marker_line(marker: str) -> str:
    return f"<!-- plan-harness comment: {marker} -->"


def comment_body(summary: str, marker: str, link: str | None) -> str:
    parts = [summary.rstrip()]
    if link:
        parts.append(f"[The full HTML report]({link}) (the job's artifact).")
    parts.append(marker_line(marker))
    return "\n\n".join(parts) + "\n"


def post_sticky(thread: Thread, body: str, marker: str) -> str:
    """Edits the comment carrying `marker`, or adds one; says which it did."""
    existing = _find(thread, marker_line(marker))
    if existing is None:
        _call(thread, "POST", thread.comments_url, {"body": body})
        return "added"
    _call(thread, thread.edit_method, thread.comment_url(existing), {"body": body})
    return "updated"


def _find(thread: Thread, marker: str) -> int | None:
    page = 1
    while True:
        comments = _call(thread, "GET", f"{thread.comments_url}?per_page={PAGE}&page={page}")
        if not isinstance(comments, list):
            raise ConfigError(f"comment: {thread.comments_url} did not answer with a list")
        for comment in comments:
            if marker in str(comment.get("body", "")):
                return int(comment["id"])
        if len(comments) < PAGE:
            return None
        page += 1


def _call(thread: Thread, method: str, url: str, payload: Any = None) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    headers = {**thread.headers, **({"Content-Type": "application/json"} if data else {})}
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as exc:
        raise ConfigError(f"comment: {method} {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise ConfigError(f"comment: {method} {url}: {exc.reason}") from None
    return json.loads(text) if text else None
