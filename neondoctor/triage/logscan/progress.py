"""A progress line for a long log scan, drawn on a terminal only."""

from __future__ import annotations

import time
from typing import TextIO


class Progress:
    """A progress line on a terminal, drawn only once the scan has taken more than a second."""

    def __init__(self, stream: TextIO, total: int | None, delay: float = 1.0) -> None:
        self.stream, self.total, self.delay = stream, total, delay
        self.start = time.monotonic()
        self.last = 0.0
        self.drawn = False

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self.start < self.delay or now - self.last < 0.1:
            return
        self.last = now
        mb = done / 1e6
        rate = mb / (now - self.start)
        if self.total:
            frac = min(1.0, done / self.total)
            bar = "#" * int(frac * 30)
            text = f"\rscanning [{bar:<30}] {100 * frac:3.0f}% {mb:,.0f} MB {rate:,.0f} MB/s"
        else:
            text = f"\rscanning {mb:,.0f} MB {rate:,.0f} MB/s"
        self.stream.write(text)
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("\r" + " " * 72 + "\r")
            self.stream.flush()
