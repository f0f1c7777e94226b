"""`pool-stats serve`: the current slot arithmetic for Prometheus, one bounded sample per scrape.

One connection, reopened after a failure; at most one sample per `cache_s` whatever the number of
scrapers (a second Prometheus or a dashboard refresh reuses the cached text). A failed sample is
served as `neondoctor_server_up 0`, never as an HTTP error, so the alert is about the database.
The standard library's HTTP server, a thread per request (a silent client blocks nobody); a lock
keeps it to one sample at a time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from neondoctor.errors import NeondoctorError
from neondoctor.pool_stats.model import Snapshot
from neondoctor.pool_stats.pooler import PoolerWatch
from neondoctor.pool_stats.sampling import Sampler
from neondoctor.redaction import redact
from neondoctor.url import ParsedUrl

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_CACHE_S = 2.0

Render = Callable[..., str]


class Exporter:
    def __init__(self, parsed: ParsedUrl, render: Render, *, cache_s: float = DEFAULT_CACHE_S,
                 pooler: PoolerWatch | None = None, clock: Callable[[], float] = time.monotonic,
                 **options: Any) -> None:
        self.sampler = Sampler(parsed, **options)
        self.render = render
        self.cache_s = cache_s
        self.pooler = pooler
        self.clock = clock
        self.samples = 0  # how many times the server was actually queried
        self._lock = threading.Lock()
        self._cached: tuple[float, str] | None = None

    def text(self) -> str:
        with self._lock:
            now = self.clock()
            if self._cached and now - self._cached[0] < self.cache_s:
                return self._cached[1]
            started = time.perf_counter()
            snap: Snapshot | None = None
            error = None
            try:
                snap = self.sampler.sample()
                self.samples += 1
            except NeondoctorError as err:
                error = err.message
            waiting = self.pooler.waiting() if self.pooler else None
            body = redact(self.render(snap, pooler_waiting=waiting,
                                      scrape_seconds=time.perf_counter() - started, error=error))
            self._cached = (now, body)
            return body

    def close(self) -> None:
        self.sampler.close()
        if self.pooler:
            self.pooler.close()


def make_server(exporter: Exporter, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # a client that connects and says nothing gives its thread back

        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/", "/metrics"):
                self.send_error(404, "try /metrics")
                return
            body = exporter.text().encode()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:  # quiet: a scrape every 15 s is not news
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
