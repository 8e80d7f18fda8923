"""Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`):
enough to open a report, read the page, click like a person and take a screenshot. The
standard library suffices (no WebSocket, no driver binary), so the report's browser test
and benchmark need nothing beyond Debian's `chromium` package. A tool of the tests and
benchmarks, not of the installed harness."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.errors import HarnessError

# Without the networking flags, Chromium keeps dialling Google's hosts, which a closed
# network refuses; --no-sandbox because CI runs as root.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe",
)
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


class BrowserError(HarnessError):
    """Chromium is missing, did not start, or did not answer in time."""


def find_chromium() -> str:
    for name in (os.environ.get("PLAN_HARNESS_CHROMIUM", ""), *CANDIDATES):
        if name and (found := shutil.which(name)):
            return found
    raise BrowserError("no Chromium found (install Debian's chromium package, or set "
                       "PLAN_HARNESS_CHROMIUM to its path)")


def _above_four(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class Browser:
    """One Chromium process with one page. Use as a context manager."""

    def __init__(self, executable: str | None = None, width: int = 1400, height: int = 900,
                 timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="plan-harness-chromium-")
        self._log = Path(self._profile.name) / "chromium.log"
        # Chromium reads commands on fd 3 and writes replies on fd 4. The pipe ends move
        # above 4 first, so placing them there in the child cannot overwrite one with the
        # other; they are close-on-exec, their copies on 3 and 4 are not.
        commands_read, self._commands = (_above_four(fd) for fd in os.pipe())
        self._replies, replies_write = (_above_four(fd) for fd in os.pipe())

        def onto_three_and_four() -> None:
            os.dup2(commands_read, 3)
            os.dup2(replies_write, 4)

        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                [executable or find_chromium(), *FLAGS, f"--user-data-dir={self._profile.name}",
                 "about:blank"],
                preexec_fn=onto_three_and_four, close_fds=False,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
            )
        os.close(commands_read)
        os.close(replies_write)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self._session: str | None = None
        self._closed = False
        try:
            self._attach(width, height)
        except BaseException:
            self.close()
            raise

    def _attach(self, width: int, height: int) -> None:
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self._call("Target.attachToTarget",
                                   {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._process.poll() is None:
            with contextlib.suppress(BrowserError, OSError):
                self._call("Browser.close")
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        for fd in (self._commands, self._replies):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._profile.cleanup()

    # --- protocol ----------------------------------------------------------------------------

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A command to the page."""
        return self._call(method, params, session=self._session)

    def call_browser(self, method: str, params: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
        """A command to the browser itself (Browser.getVersion, ...)."""
        return self._call(method, params)

    def _call(self, method: str, params: dict[str, Any] | None = None,
              session: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message', reply['error'])}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self._events.append(reply)

    def _receive(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._replies], [], [], max(left, 0))
            if not ready:
                raise BrowserError(f"Chromium did not answer within {self.timeout:.0f} s")
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                said = self._log.read_text(errors="replace").strip().splitlines()
                raise BrowserError("Chromium exited" + (f": {said[-1]}" if said else ""))
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        decoded: dict[str, Any] = json.loads(message)
        return decoded

    def wait_for_event(self, method: str) -> dict[str, Any]:
        while True:
            for i, event in enumerate(self._events):
                if event["method"] == method:
                    return self._events.pop(i)
            self._events.append(self._receive())

    # --- what tests and benchmarks do --------------------------------------------------------

    def open(self, path: Path) -> float:
        """Loads a file and waits for its load event; returns the seconds that took."""
        self._events.clear()
        started = time.perf_counter()
        self.call("Page.navigate", {"url": path.resolve().as_uri()})
        self.wait_for_event("Page.loadEventFired")
        return time.perf_counter() - started

    def evaluate(self, expression: str) -> Any:
        reply = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                               "awaitPromise": True})
        if "exceptionDetails" in reply:
            raise BrowserError(f"{expression[:60]}: {reply['exceptionDetails'].get('text')}")
        return reply["result"].get("value")

    def click(self, selector: str) -> None:
        """Scrolls the element into view and clicks its centre with the mouse, as a person
        would (a script's .click() would skip hit-testing)."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return {x: r.left + Math.min(r.width / 2, 20), y: r.top + r.height / 2}; })()")
        if box is None:
            raise BrowserError(f"nothing matches {selector}")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": box["x"], "y": box["y"],
                                                   "button": "left", "clickCount": 1})

    def screenshot(self, path: Path, full_page: bool = False) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.evaluate("({w: document.documentElement.scrollWidth,"
                                 " h: document.documentElement.scrollHeight})")
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["w"], "height": size["h"],
                                "scale": 1})
        data = self.call("Page.captureScreenshot", params)["data"]
        path.write_bytes(base64.b64decode(data))
