"""The deployment sanity sequence: five timed steps a CI job runs against DATABASE_URL.

1. health      SELECT 1 through a pooled engine with pool_pre_ping
2. schema      metadata.create_all(engine) (creates what is missing; never drops or alters)
3. tables      the inspector confirms every table of the metadata exists
4. round_trip  one marker row written, then read back in a new session
5. restart     a brand-new Python process reads the marker row back

The sequence stops at the first failure (later steps are `skipped`). Marker rows carry a unique
run token, so concurrent CI jobs never touch each other's rows; they are removed in `finally`, and
markers an interrupted run left behind are removed by the next run: on PostgreSQL as soon as the
run's liveness lock is free (see RunLiveness), on SQLite once they are an hour old. No row the
sequence did not create is ever written.

Run as `python -m neondoctor.sanity.restart` that module is the child of step 5: it reads the URL and the
token from the environment (never argv, which `ps` shows to every user) and prints one JSON line.
"""


from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from neondoctor.log import get_logger
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
from neondoctor.sanity.report import STEP_NAMES, SanityReport, StepFailed, StepResult, error_text, timed
from neondoctor.sanity.restart import CHILD_TIMEOUT, restart
from neondoctor.sanity.target import DEFAULT_TIMEOUT, Target, load_metadata, make_engine, resolve_target

if TYPE_CHECKING:
    from sqlalchemy import MetaData

__all__ = ["MARKER_PREFIX", "MARKER_TABLE", "STEP_NAMES", "MarkerStore", "SanityReport", "StepFailed", "StepResult",
           "Target", "error_text", "is_stale_token", "load_metadata", "make_engine", "marker_table", "new_token",
           "resolve_target", "run_sanity"]

BUDGET_SPEC = "neondoctor.app.budget.models:Base"
StepHook = Callable[[str, SanityReport], None]


def run_sanity(
    raw_url: str,
    *,
    metadata_spec: str | None = None,
    timeout: int = DEFAULT_TIMEOUT,
    after_step: StepHook | None = None,
    child_timeout: float = CHILD_TIMEOUT,
) -> SanityReport:
    """Run the five steps against `raw_url`. Configuration mistakes raise ConfigError before any step.

    `after_step(name, report)` is called after each step that passed, before the next one: the
    tests use it to stop the server or remove a row between two steps.
    """

    target = resolve_target(raw_url)
    if metadata_spec:
        metadata: MetaData = load_metadata(metadata_spec)
        mode = "marker"
    else:
        from neondoctor.app.budget.models import Base

        metadata = Base.metadata
        mode = "budget"
    report = SanityReport(database=target.masked, dialect=target.dialect,
                          metadata=metadata_spec or BUDGET_SPEC, token=new_token())
    store = MarkerStore(mode)
    engine = make_engine(target, timeout=timeout)
    liveness = RunLiveness(target)
    started = time.perf_counter()
    created = False
    try:
        steps: list[tuple[str, Callable[[StepResult], None]]] = [
            ("health", lambda r: _steps.health(engine, r)),
            ("schema", lambda r: _steps.schema(engine, target, metadata, r)),
            ("tables", lambda r: _steps.tables(engine, metadata, r)),
            ("round_trip", lambda r: (liveness.hold(engine, report.token),
                                      _steps.round_trip(engine, target, store, report.token, r))),
            ("restart", lambda r: restart(target, mode, report.token, r, child_timeout, timeout)),
        ]
        for name, action in steps:
            result = report.step(name)
            with timed(result):
                if name == "round_trip":
                    created = True  # from here on a marker may exist, even if the step fails midway
                action(result)
            get_logger("neondoctor.sanity.sequence").info("sanity step", step=name, status=result.status,
                                                 duration_ms=round(result.duration_ms, 2), detail=result.detail)
            if result.status == "failed":
                report.triage = triage_hint(result.error or "")
                break
            if after_step is not None:
                after_step(name, report)
    finally:
        if created:
            report.cleanup = _steps.cleanup(engine, store, report.token)
        liveness.release()
        engine.dispose()
        report.duration_ms = (time.perf_counter() - started) * 1000
    return report

