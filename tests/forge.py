"""A stand-in for the comment endpoints of GitHub's and GitLab's REST APIs (the network here
reaches no forge): pull-request comments and merge-request notes kept in memory, served on a
local port, with every request recorded."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

LIST = re.compile(r".*/(?:issues/\d+/comments|merge_requests/\d+/notes)$")
ITEM = re.compile(r".*/(?:issues/comments|merge_requests/\d+/notes)/(\d+)$")


@dataclass
class Forge:
    url: str = ""
    comments: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    status: int = 200  # set to answer every request with an error


@contextmanager
def fake_forge() -> Iterator[Forge]:
    forge = Forge()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            url = urlparse(self.path)
            forge.requests.append((self.command, url.path, dict(self.headers)))
            if forge.status != 200:
                self._answer(forge.status, {"message": "refused"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            payload = json.loads(self.rfile.read(length)) if length else {}
            if self.command == "GET" and LIST.match(url.path):
                query = parse_qs(url.query)
                size, page = int(query["per_page"][0]), int(query["page"][0])
                self._answer(200, forge.comments[(page - 1) * size:page * size])
            elif self.command == "POST" and LIST.match(url.path):
                forge.comments.append({"id": 1000 + len(forge.comments),
                                       "body": payload["body"]})
                self._answer(201, forge.comments[-1])
            elif self.command in ("PATCH", "PUT") and (match := ITEM.match(url.path)):
                comment = next(c for c in forge.comments if c["id"] == int(match.group(1)))
                comment["body"] = payload["body"]
                self._answer(200, comment)
            else:
                self._answer(404, {"message": "not found"})

        do_GET = do_POST = do_PATCH = do_PUT = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    forge.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield forge
    finally:
        server.shutdown()
        server.server_close()
