"""Sampling the server: ONE connection, bounded timeouts, a READ ONLY transaction, ONE statement per sample.

Safe during an incident. If even that connection is refused because the slots are full, that
refusal is the result (`SlotsFull`), not a crash.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from neondoctor import connect
from neondoctor.errors import NeondoctorError
from neondoctor.pool_stats.model import Snapshot
from neondoctor.pool_stats.sql import SAMPLE_SQL
from neondoctor.url import ParsedUrl

# One connect-error classifier and one Unreachable for every command: neondoctor.connect.
SlotsFull = connect.SlotsFull
Unreachable = connect.Unreachable
classify_connect_error = connect.unreachable
SLOTS_FULL_MARKERS = next(markers for kind, _, markers in connect._KINDS if kind == "slots")


@contextlib.contextmanager
def sampler(parsed: ParsedUrl, *, connect_timeout: int = connect.DEFAULT_CONNECT_TIMEOUT,
            statement_timeout_ms: int = connect.DEFAULT_STATEMENT_TIMEOUT_MS,
            recycle_s: float | None = None) -> Iterator[Callable[[], Snapshot]]:
    """Yield a function that takes one snapshot; all samples share neondoctor's ONE connection,
    in the URL's own driver, every call bounded by `connect_timeout` (connect.Session's watchdog)."""
    stack = contextlib.ExitStack()
    session = stack.enter_context(connect.read_only(parsed, connect_timeout=connect_timeout,
                                                    statement_timeout_ms=statement_timeout_ms))
    first = True

    def sample() -> Snapshot:
        nonlocal first
        try:
            if not first:
                # A fresh READ ONLY transaction per sample: pg_stat_activity is cached per transaction.
                session.begin_read_only(statement_timeout_ms=statement_timeout_ms)
            first = False
            doc = session.scalar(SAMPLE_SQL, {"recycle": recycle_s})
            # End the transaction now, so between --watch samples neondoctor is idle, not idle in transaction.
            session.rollback()
        except connect.Unreachable:
            raise
        except Exception as exc:
            raise Unreachable(f"the sample query failed: {connect.error_line(exc)}") from None
        if isinstance(doc, str):
            doc = json.loads(doc)
        return Snapshot.from_document(doc, recycle_s=recycle_s, parsed=parsed)

    with stack:  # closes the one connection, whatever happens while sampling
        yield sample


def take_snapshot(parsed: ParsedUrl, **options: Any) -> Snapshot:
    with sampler(parsed, **options) as sample:
        return sample()


def watch(parsed: ParsedUrl, *, samples: int, interval_s: float,
          on_sample: Callable[[Snapshot], None] | None = None,
          **options: Any) -> tuple[list[Snapshot], NeondoctorError | None]:
    """`samples` snapshots `interval_s` apart over one connection, and why the series ended early.

    Ctrl-C ends the series early; so does the server going away: the samples taken so far are
    returned with the error, because during an incident they are the point.
    """
    taken: list[Snapshot] = []
    with sampler(parsed, **options) as sample:
        for i in range(samples):
            try:
                if i:
                    time.sleep(interval_s)
                snap = sample()
            except KeyboardInterrupt:
                if not taken:
                    raise
                break
            except Unreachable as err:
                if not taken:
                    raise
                return taken, err
            taken.append(snap)
            if on_sample:
                on_sample(snap)
    return taken, None


class Sampler:
    """One sample at a time over ONE connection that is reopened after a failure (record, serve).

    `sample()` raises `SlotsFull`/`Unreachable` when the server cannot be sampled; the next call
    tries a fresh connection. `close()` ends the connection (between samples, or at the end).
    """

    def __init__(self, parsed: ParsedUrl, **options: Any) -> None:
        self.parsed = parsed
        self.options = options
        self._stack: contextlib.ExitStack | None = None
        self._sample: Callable[[], Snapshot] | None = None

    def sample(self) -> Snapshot:
        kept = self._sample is not None
        try:
            return self._sample_once()
        except Unreachable:
            if not kept:
                raise
            # The kept connection died while idle (a server restart, Neon's scale to zero, an
            # idle_session_timeout): that says nothing about the server now, so try a fresh one once.
            return self._sample_once()

    def _sample_once(self) -> Snapshot:
        if self._sample is None:
            stack = contextlib.ExitStack()
            self._sample = stack.enter_context(sampler(self.parsed, **self.options))
            self._stack = stack
        try:
            return self._sample()
        except NeondoctorError:
            self.close()
            raise

    def close(self) -> None:
        stack, self._stack, self._sample = self._stack, None, None
        if stack is not None:
            with contextlib.suppress(Exception):
                stack.close()
