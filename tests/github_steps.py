"""Runs one job of a GitHub Actions workflow on this machine, the way a runner would as far as
docs/ci's example needs: `run:` steps in order in bash, `${{ }}` expressions over the github,
env, steps, runner and secrets contexts, `if:` conditions, GITHUB_OUTPUT / GITHUB_ENV /
GITHUB_STEP_SUMMARY, and stand-ins for the hosted actions it uses (checkout and setup-python
are the machine as it is; cache keeps entries in a directory; upload-artifact copies)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.S)
TOKEN = re.compile(r"\s*(\|\||&&|==|!=|!|\(|\)|,|'(?:[^']|'')*'|[A-Za-z_][\w.\-*]*|\d+)")


@dataclass
class StepResult:
    name: str
    outcome: str  # success, failure or skipped
    output: str = ""


@dataclass
class Job:
    """One job of a parsed workflow, run in `workspace` with the given contexts."""

    workflow: Mapping[str, Any]
    name: str
    workspace: Path
    github: Mapping[str, Any]
    cache_store: Path
    artifacts: Path
    # a service container's stand-in may listen elsewhere: these win over the job's env
    env_overrides: Mapping[str, str] = field(default_factory=dict)
    results: list[StepResult] = field(default_factory=list)
    _outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _env: dict[str, str] = field(default_factory=dict)
    _post: list[Callable[[], None]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(r.outcome == "failure" for r in self.results)

    def run(self) -> list[StepResult]:
        job = self.workflow["jobs"][self.name]
        self._env = {**self.workflow.get("env", {}), **job.get("env", {})}
        self._env = {k: self.evaluate(str(v)) for k, v in self._env.items()}
        for number, step in enumerate(job["steps"]):
            self._step(step, step.get("name") or step.get("uses") or f"step {number}")
        for post in self._post:
            post()
        return self.results

    def _step(self, step: Mapping[str, Any], name: str) -> None:
        condition = str(step.get("if", "success()"))
        if not self.truthy(self.evaluate_expression(_strip(condition))):
            self.results.append(StepResult(name, "skipped"))
            return
        if "uses" in step:
            outputs, outcome, output = self._action(step)
        else:
            outputs, outcome, output = self._shell(step)
        if "id" in step:
            self._outputs[step["id"]] = {"outputs": outputs, "outcome": outcome}
        self.results.append(StepResult(name, outcome, output))

    def _shell(self, step: Mapping[str, Any]) -> tuple[dict[str, str], str, str]:
        files = {name: self.workspace.parent / f".{name.lower()}" for name in
                 ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STEP_SUMMARY")}
        for name in ("GITHUB_OUTPUT", "GITHUB_ENV"):
            files[name].write_text("")
        step_env = {k: self.evaluate(str(v)) for k, v in step.get("env", {}).items()}
        env = {**os.environ, **self._env, **step_env, **self.env_overrides,
               **{k: str(v) for k, v in files.items()}, **self._default_variables()}
        script = self.workspace.parent / ".step.sh"
        script.write_text(self.evaluate(str(step["run"])))
        result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                                cwd=self.workspace, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, timeout=900, check=False)
        self._env.update(_key_values(files["GITHUB_ENV"].read_text()))
        outputs = _key_values(files["GITHUB_OUTPUT"].read_text())
        return outputs, "success" if result.returncode == 0 else "failure", result.stdout

    def _default_variables(self) -> dict[str, str]:
        """The variables a runner sets for every step (those the example reads)."""
        return {"GITHUB_WORKSPACE": str(self.workspace), "CI": "true",
                "GITHUB_EVENT_NAME": str(self.github["event_name"]),
                "GITHUB_REF": str(self.github["ref"]),
                "GITHUB_REPOSITORY": str(self.github["repository"]),
                "GITHUB_API_URL": str(self.github.get("api_url", "http://127.0.0.1:9"))}

    def _action(self, step: Mapping[str, Any]) -> tuple[dict[str, str], str, str]:
        action, _, _version = str(step["uses"]).partition("@")
        given = {k: self.evaluate(str(v)) for k, v in step.get("with", {}).items()}
        if action in ("actions/checkout", "actions/setup-python"):
            return {}, "success", "the workspace and this machine's python"
        if action in ("actions/cache", "actions/cache/restore"):
            return self._restore_cache(given, save=action == "actions/cache")
        if action == "actions/upload-artifact":
            target = self.artifacts / given["name"]
            shutil.copytree(self.workspace / given["path"], target, dirs_exist_ok=True)
            url = f"https://github.example/{self.github['repository']}/actions/runs/1/artifacts/1"
            return {"artifact-url": url, "artifact-id": "1"}, "success", str(target)
        if action == "mikepenz/action-junit-report":
            report = self.workspace / given["report_paths"]
            cases = ET.parse(report).getroot().iter("testcase")  # the action would read it
            return {"total": str(sum(1 for _ in cases))}, "success", str(report)
        raise AssertionError(f"no stand-in for action {action}")

    def _restore_cache(self, given: Mapping[str, str],
                       save: bool) -> tuple[dict[str, str], str, str]:
        path, key = self.workspace / given["path"], given["key"]
        prefixes = [p.strip() for p in given.get("restore-keys", "").splitlines() if p.strip()]
        entries = sorted(self.cache_store.glob("*"), key=lambda p: p.stat().st_mtime, reverse=True)
        found = next((e for e in entries if e.name == key), None) or next(
            (e for prefix in prefixes for e in entries if e.name.startswith(prefix)), None)
        if found is not None:
            shutil.copytree(found, path, dirs_exist_ok=True, symlinks=True)
        if save and (found is None or found.name != key):
            self._post.append(lambda: shutil.copytree(path, self.cache_store / key, symlinks=True)
                              if path.exists() else None)
        hit = "true" if found is not None and found.name == key else "false"
        return {"cache-hit": hit}, "success", f"restored {found.name if found else 'nothing'}"

    # expressions -----------------------------------------------------------------------

    def evaluate(self, text: str) -> str:
        """`text` with each ${{ expression }} replaced by its value."""
        return EXPRESSION.sub(lambda m: _text(self.evaluate_expression(m.group(1))), text)

    def evaluate_expression(self, expression: str) -> Any:
        tokens = [t for t in TOKEN.findall(expression) if t]
        if "".join(tokens) != re.sub(r"\s+", "", expression):
            raise AssertionError(f"unsupported expression: {expression!r}")
        value, rest = self._or(tokens)
        if rest:
            raise AssertionError(f"unsupported expression: {expression!r}")
        return value

    def _or(self, tokens: list[str]) -> tuple[Any, list[str]]:
        left, tokens = self._and(tokens)
        while tokens[:1] == ["||"]:
            right, tokens = self._and(tokens[1:])
            left = left if self.truthy(left) else right
        return left, tokens

    def _and(self, tokens: list[str]) -> tuple[Any, list[str]]:
        left, tokens = self._compare(tokens)
        while tokens[:1] == ["&&"]:
            right, tokens = self._compare(tokens[1:])
            left = right if self.truthy(left) else left
        return left, tokens

    def _compare(self, tokens: list[str]) -> tuple[Any, list[str]]:
        left, tokens = self._unary(tokens)
        if tokens[:1] in (["=="], ["!="]):
            right, rest = self._unary(tokens[1:])
            equal = str(left).lower() == str(right).lower()
            return equal if tokens[0] == "==" else not equal, rest
        return left, tokens

    def _unary(self, tokens: list[str]) -> tuple[Any, list[str]]:
        head, rest = tokens[0], tokens[1:]
        if head == "!":
            value, rest = self._unary(rest)
            return not self.truthy(value), rest
        if head == "(":
            value, rest = self._or(rest)
            return value, rest[1:]
        if head.startswith("'"):
            return head[1:-1].replace("''", "'"), rest
        if head.isdigit():
            return int(head), rest
        if rest[:1] == ["("]:
            arguments, rest = [], rest[1:]
            while rest[0] != ")":
                value, rest = self._or(rest)
                arguments.append(value)
                rest = rest[1:] if rest[0] == "," else rest
            return self._call(head, arguments), rest[1:]
        return self._lookup(head), rest

    def _call(self, name: str, arguments: list[Any]) -> Any:
        if name == "always":
            return True
        if name == "success":
            return not self.failed
        if name == "failure":
            return self.failed
        if name == "cancelled":
            return False
        if name == "hashFiles":
            return hash_files(self.workspace, [str(a) for a in arguments])
        raise AssertionError(f"unsupported function {name}()")

    def _lookup(self, path: str) -> Any:
        contexts: dict[str, Any] = {"github": self.github, "env": self._env,
                                    "steps": self._outputs, "secrets": {},
                                    "runner": {"os": "Linux", "arch": "X64"}}
        head, *names = path.split(".")
        value: Any = contexts[head]
        for name in names:
            value = value.get(name, "") if isinstance(value, Mapping) else ""
        return value

    @staticmethod
    def truthy(value: Any) -> bool:
        return value not in (False, None, "", 0)


def hash_files(root: Path, patterns: list[str]) -> str:
    """hashFiles(): a SHA-256 over the matching files' own hashes, in path order."""
    files = sorted({path for pattern in patterns
                    for path in root.glob(pattern + "/*" if pattern.endswith("**") else pattern)
                    if path.is_file()})
    if not files:
        return ""
    digest = hashlib.sha256()
    for path in files:
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _strip(condition: str) -> str:
    match = EXPRESSION.fullmatch(condition.strip())
    return match.group(1) if match else condition


def _text(value: Any) -> str:
    if value is True or value is False:
        return str(value).lower()
    return str(value)


def _key_values(text: str) -> dict[str, str]:
    """The `name=value` and `name<<DELIMITER` lines of GITHUB_OUTPUT and GITHUB_ENV."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            for more in lines:
                if more == delimiter:
                    break
                body.append(more)
            values[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
    return values
