"""The deployment sanity sequence: six timed steps a CI job runs against DATABASE_URL.

1. health      SELECT 1 through a pooled engine with pool_pre_ping
2. migrations  with --alembic PATH: the database's revision is the scripts' single head (read only)
3. schema      budget tracker: create_all of its missing tables, announced first; your models
               (--metadata): only neondoctor's own schema `neondoctor` and its marker table.
               Skipped under --no-create and --read-only (no DDL at all).
4. tables      schema drift: the models against the live database (drift.py)
5. round_trip  one marker row written, then read back in a new session (a read of every model
               table instead, when nothing may be written)
6. restart     a brand-new Python process reads the marker row back

The sequence stops at the first failure (later steps are `skipped`). Marker rows carry a unique
run token, so concurrent CI jobs never touch each other's rows; they are removed in `finally`, and
markers an interrupted run left behind are removed by the next run: on PostgreSQL as soon as the
run's liveness lock is free (see RunLiveness), on SQLite once they are an hour old. No row the
sequence did not create is ever written. A failed step's error is triaged in-process (advice.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from neondoctor.errors import EXIT_FINDINGS, NeondoctorError
from neondoctor.log import get_logger
from neondoctor.sanity import own
from neondoctor.sanity import steps as _steps
from neondoctor.sanity.advice import triage_hint
from neondoctor.sanity.markers import (
    MARKER_PREFIX,
    MARKER_TABLE,
    MarkerStore,
    RunLiveness,
    is_stale_token,
    marker_table,
    new_token,
)
from neondoctor.sanity.report import (
    EARLIER_FAILED,
    STEP_NAMES,
    SanityReport,
    StepFailed,
    StepResult,
    StepSkipped,
    error_text,
    timed,
)
from neondoctor.sanity.restart import CHILD_TIMEOUT, restart
from neondoctor.sanity.target import (
    DEFAULT_TIMEOUT,
    Target,
    load_metadata,
    make_engine,
    make_read_only,
    resolve_target,
)
from neondoctor.watchdog import CANCEL_GRACE, Watchdog

if TYPE_CHECKING:
    from sqlalchemy import MetaData

__all__ = [
    "MARKER_PREFIX",
    "MARKER_TABLE",
    "STEP_NAMES",
    "MarkerStore",
    "SanityReport",
    "StepFailed",
    "StepResult",
    "Target",
    "drop_own_schema",
    "error_text",
    "is_stale_token",
    "load_metadata",
    "make_engine",
    "marker_table",
    "new_token",
    "resolve_target",
    "run_sanity",
]

BUDGET_SPEC = "neondoctor.app.budget.models:Base"
StepHook = Callable[[str, SanityReport], None]
T = TypeVar("T")


def run_sanity(
    raw_url: str,
    *,
    metadata_spec: str | None = None,
    timeout: int = DEFAULT_TIMEOUT,
    after_step: StepHook | None = None,
    child_timeout: float = CHILD_TIMEOUT,
    no_create: bool = False,
    read_only: bool = False,
    alembic: str | None = None,
    announce: Callable[[list[str]], None] | None = None,
) -> SanityReport:
    """Run the steps against `raw_url`. Configuration mistakes raise ConfigError before any step.

    `announce(objects)` is called before the schema step creates anything, with what it will create.
    `after_step(name, report)` is called after each step that passed, before the next one: the
    tests use it to stop the server or remove a row between two steps.
    """
    no_create = no_create or read_only
    target = resolve_target(raw_url)
    if metadata_spec:
        metadata: MetaData = load_metadata(metadata_spec, timeout=timeout)
        mode = "marker"
    else:
        from neondoctor.app.budget.models import Base

        metadata = Base.metadata
        mode = "budget"
    if alembic:
        from neondoctor.sanity.migrations import load_scripts

        load_scripts(alembic)  # a wrong PATH is a configuration error, before anything connects
    def run() -> SanityReport:
        report = SanityReport(database=target.masked, dialect=target.dialect,
                              metadata=metadata_spec or BUDGET_SPEC, token=new_token(),
                              options={"no_create": no_create, "read_only": read_only, "alembic": alembic},
                              driver=target.url.get_driver_name(), driver_reason=target.driver_reason)
        store = MarkerStore(mode, target.dialect)
        engine = make_engine(target, timeout=timeout)
        if read_only:
            make_read_only(engine, target)
        liveness = RunLiveness(target)
        # Client-side bound on every step's calls: a frozen backend enforces no statement_timeout.
        dog = Watchdog(timeout + CANCEL_GRACE)
        dog.track_engine(engine)
        started = time.perf_counter()
        writes = False

        def schema(r: StepResult) -> None:
            if no_create:
                raise StepSkipped(f"{'--read-only' if read_only else '--no-create'}: no DDL, nothing created")
            report.will_create = _steps.plan(engine, metadata if mode == "budget" else None)
            if announce is not None:
                announce(report.will_create)
            _steps.schema(engine, target, metadata if mode == "budget" else None, r, report.created)

        def round_trip(r: StepResult) -> None:
            nonlocal writes
            if read_only:
                return _steps.read_round_trip(engine, metadata, r, "--read-only: no marker written")
            if mode == "marker" and no_create:
                with engine.connect() as conn:
                    if not own.marker_table_exists(conn):
                        return _steps.read_round_trip(engine, metadata, r, "--no-create and neondoctor's marker table "
                                                      "does not exist: no marker written")
            writes = True  # from here on a marker may exist, even if the step fails midway
            liveness.hold(engine, report.token)
            _steps.round_trip(engine, store, report.token, r)

        def restart_step(r: StepResult) -> None:
            if not writes:
                raise StepSkipped("no marker was written, so there is nothing for a new process to read back")
            restart(engine, target, mode, report.token, r, child_timeout, timeout)

        actions: dict[str, Callable[[StepResult], None]] = {
            "health": lambda r: _steps.health(engine, r),
            "migrations": lambda r: _steps.migrations(engine, alembic, r),
            "schema": schema,
            "tables": lambda r: _steps.tables(engine, metadata, r),
            "round_trip": round_trip,
            "restart": restart_step,
        }
        log = get_logger("neondoctor.sanity.sequence")
        try:
            for name in STEP_NAMES:
                result = report.step(name)
                with timed(result), dog.armed(child_timeout if name == "restart" else None):
                    actions[name](result)
                if dog.fired and result.status == "failed":
                    result.error = result.detail = (f"the server stopped answering: no reply within {dog.timeout:g} s; "
                                                    f"neondoctor cancelled and closed the connection ({result.error})")
                log.info("sanity step", step=name, status=result.status, duration_ms=round(result.duration_ms, 2),
                         detail=result.detail)
                if result.status == "failed":
                    for later in report.steps[STEP_NAMES.index(name) + 1:]:
                        later.detail = EARLIER_FAILED
                    report.triage = triage_hint(result.error or "", raw_url, timeout)
                    break
                if after_step is not None:
                    after_step(name, report)
        finally:
            if writes:
                for _ in range(2):  # once more on a fresh connection if the pooled one had stalled
                    with dog.armed():
                        report.cleanup = _steps.cleanup(engine, store, report.token)
                    if not (dog.fired and report.cleanup.startswith("could not")):
                        break
            with dog.armed():
                liveness.release()
            with dog.armed():
                engine.dispose()
            report.duration_ms = (time.perf_counter() - started) * 1000
        return report

    return in_driver_context(target, run)


def in_driver_context(target: Target, fn: Callable[[], T]) -> T:
    """Call fn directly, or for an async driver inside a greenlet on a private event loop: there
    SQLAlchemy's sync API drives the async driver, as AsyncEngine.run_sync does."""
    if not target.is_async:
        return fn()
    import asyncio

    from sqlalchemy.util import greenlet_spawn

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(greenlet_spawn(fn))
    finally:
        loop.close()


def drop_own_schema(raw_url: str, *, timeout: int = DEFAULT_TIMEOUT) -> list[str]:
    """`--drop-own-schema`: remove neondoctor's own objects from the database; what was removed."""
    target = resolve_target(raw_url)
    engine = make_engine(target, timeout=timeout)
    try:
        with engine.begin() as conn:
            _steps.advisory_lock(conn, target)  # not while a run creates them
            return own.drop(conn)
    except Exception as exc:  # refused (foreign objects), no privilege, unreachable: one line, exit 1
        raise NeondoctorError(f"--drop-own-schema: {error_text(exc)}", exit_code=EXIT_FINDINGS) from None
    finally:
        engine.dispose()
