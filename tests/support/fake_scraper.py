"""A scraper API stand-in for the dispatcher's tests: a real HTTP server on loopback that records every POST.

It takes a request the first time it sees its ``Idempotency-Key`` (201) and answers 200 to a repeat, as a scraper
that honours idempotency keys does; it answers 401 without the right bearer token and 422 to a request whose
``post_id`` is in ``refuse``. ``stop``/``start`` take it down and up on the same port (an outage).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Post:
    t: float
    key: str | None
    body: dict[str, Any]
    authorized: bool
    status: int


@dataclass
class FakeScraper:
    token: str
    port: int = 0
    refuse: set[str] = field(default_factory=set)
    posts: list[Post] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # by idempotency key, the first body
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/scrape-requests"

    def start(self) -> None:
        scraper = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                authorized = self.headers.get("Authorization") == f"Bearer {scraper.token}"
                key = self.headers.get("Idempotency-Key")
                body = json.loads(raw) if raw else {}
                with scraper.lock:
                    if not authorized:
                        status = 401
                    elif body.get("post_id") in scraper.refuse:
                        status = 422
                    elif key in scraper.accepted:
                        status = 200
                    else:
                        scraper.accepted[str(key)] = body
                        status = 201
                    scraper.posts.append(Post(time.time(), key, body, authorized, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def n_accepted(self) -> int:
        with self.lock:
            return len(self.accepted)
