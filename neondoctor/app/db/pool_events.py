"""Pool events -> log records (and metrics when enabled), for sync and async engines alike.

The factory gives each engine its own subclass of QueuePool / AsyncAdaptedQueuePool carrying an
observer: `connect()` is timed (the wait an application sees for a connection, including a
pre-ping) and a checkout timeout is logged with the pool's counts and a timestamp;
the creator is timed (connect latency, reconnects included). A subclass per engine keeps the observer
across `engine.dispose()`, which rebuilds the pool with `self.__class__`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from neondoctor.app.db.logs import emit, error_text, log, now_iso

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from neondoctor.app.db.metrics import EngineMetrics


@dataclass
class PoolObserver:
    """Counts one engine's pool events; `metrics` is set when Prometheus export is on."""

    name: str
    metrics: EngineMetrics | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("connects", "invalidations", "pre_ping_invalidations", "checkout_timeouts", "connect_retries"), 0))

    def bump(self, key: str, by: int = 1) -> None:
        self.counts[key] += by


def pool_counts(pool: Any) -> dict[str, Any]:
    """checked_out / idle / overflow / capacity of a QueuePool (what an exhaustion log needs)."""
    counts: dict[str, Any] = {}
    for name in ("size", "checkedout", "checkedin", "overflow"):
        fn = getattr(pool, name, None)
        if callable(fn):
            counts[name] = fn()
    if "size" in counts:
        counts["capacity"] = counts["size"] + max(0, getattr(pool, "_max_overflow", 0))
    return counts


class ObservedPoolBase:
    """Marks the pools built by `observed_pool_class` (they log checkout/checkin themselves)."""


def observed_pool_class(base: type, observer: PoolObserver) -> type:
    """A subclass of `base` (QueuePool or AsyncAdaptedQueuePool) that reports to `observer`."""
    from sqlalchemy import exc

    class ObservedPool(base, ObservedPoolBase):  # type: ignore[misc, valid-type]
        _observer = observer

        def connect(self) -> Any:
            started = time.monotonic()
            try:
                conn = super().connect()
            except exc.TimeoutError:
                waited = time.monotonic() - started
                self._observer.bump("checkout_timeouts")
                if self._observer.metrics:
                    self._observer.metrics.checkout_timeout(waited)
                emit(logging.ERROR, "pool.exhausted", engine=self._observer.name, at=now_iso(),
                     waited_s=round(waited, 3), timeout_s=self.timeout(), **pool_counts(self),
                     hint="raise pool_size/max_overflow within the server's slots, or find held connections")
                raise
            if self._observer.metrics:
                self._observer.metrics.checkout_wait(time.monotonic() - started)
            if log.isEnabledFor(logging.WARNING):  # cached level check: the hot path stays cheap
                out = self.checkedout()
                capacity = self._capacity
                if log.isEnabledFor(logging.DEBUG):
                    emit(logging.DEBUG, "pool.checkout", engine=self._observer.name, **pool_counts(self))
                if out >= capacity > 0:
                    emit(logging.WARNING, "pool.full", engine=self._observer.name, at=now_iso(), **pool_counts(self),
                         hint="the next checkout waits up to pool_timeout")
            return conn

        def _return_conn(self, record: Any) -> None:
            super()._return_conn(record)
            if log.isEnabledFor(logging.DEBUG):
                emit(logging.DEBUG, "pool.checkin", engine=self._observer.name, **pool_counts(self))

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # max_overflow=-1 has no limit: never "full"
            self._capacity = self.size() + self._max_overflow if self._max_overflow >= 0 else 0
            # Every new DBAPI connection (first ones and reconnects after an invalidation) goes
            # through _invoke_creator; timing it gives the connect latency.
            create = self._invoke_creator
            observer = self._observer

            def timed_create(record: Any) -> Any:
                started = time.monotonic()
                conn = create(record)
                elapsed = time.monotonic() - started
                if observer.metrics:
                    observer.metrics.connect_latency(elapsed)
                emit(logging.DEBUG, "pool.connect.latency", engine=observer.name, connect_ms=round(elapsed * 1000, 2))
                return conn

            self._invoke_creator = timed_create

    ObservedPool.__name__ = ObservedPool.__qualname__ = f"Observed{base.__name__}"
    return ObservedPool


def attach_pool_logging(engine: Engine, observer: PoolObserver | None = None) -> PoolObserver:
    """Log connect, checkout/checkin (debug), invalidations and full-pool checkouts of a sync engine
    (for an AsyncEngine pass `engine.sync_engine`)."""
    from sqlalchemy import event

    observer = observer or getattr(engine.pool, "_observer", None) or PoolObserver(name=str(engine.url.host))
    pool = engine.pool
    name = observer.name

    @event.listens_for(pool, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        observer.bump("connects")
        emit(logging.INFO, "pool.connect", engine=name, connects=observer.counts["connects"],
             reconnect=observer.counts["invalidations"] > 0, **pool_counts(engine.pool))

    if not isinstance(pool, ObservedPoolBase):
        # A pool the factory did not build: checkout/checkin come from events instead.
        @event.listens_for(pool, "checkout")
        def _on_checkout(dbapi_conn: Any, record: Any, proxy: Any) -> None:
            counts = pool_counts(engine.pool)
            emit(logging.DEBUG, "pool.checkout", engine=name, **counts)
            if counts.get("capacity") and counts.get("checkedout", 0) >= counts["capacity"]:
                emit(logging.WARNING, "pool.full", engine=name, at=now_iso(), **counts,
                     hint="the next checkout waits up to pool_timeout")

        @event.listens_for(pool, "checkin")
        def _on_checkin(dbapi_conn: Any, record: Any) -> None:
            if log.isEnabledFor(logging.DEBUG):
                emit(logging.DEBUG, "pool.checkin", engine=name, **pool_counts(engine.pool))

    @event.listens_for(pool, "invalidate")
    def _on_invalidate(dbapi_conn: Any, record: Any, exception: BaseException | None) -> None:
        observer.bump("invalidations")
        emit(logging.WARNING, "pool.invalidate", engine=name, invalidations=observer.counts["invalidations"],
             error=error_text(exception))

    @event.listens_for(pool, "soft_invalidate")
    def _on_soft_invalidate(dbapi_conn: Any, record: Any, exception: BaseException | None) -> None:
        emit(logging.INFO, "pool.soft_invalidate", engine=name, error=error_text(exception))

    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> None:
        # Carries the driver's own error, including the one a pre-ping saw on a dead connection.
        if not context.is_disconnect:
            return
        pre_ping = bool(getattr(context, "is_pre_ping", False))
        if pre_ping:
            observer.bump("pre_ping_invalidations")
            if observer.metrics:
                observer.metrics.pre_ping_invalidation()
        emit(logging.WARNING, "db.disconnect", engine=name, pre_ping=pre_ping,
             invalidate_pool=bool(context.invalidate_pool_on_disconnect), error=error_text(context.original_exception))

    return observer
