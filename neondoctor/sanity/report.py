"""What a sanity run reports: one StepResult per step, the SanityReport, and how a step is timed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from neondoctor.errors import EXIT_FINDINGS, EXIT_OK, ConfigError
from neondoctor.redaction import redact

STEP_NAMES = ("health", "migrations", "schema", "tables", "round_trip", "restart")
EARLIER_FAILED = "an earlier step failed"


class StepFailed(Exception):
    """A step's own check did not hold (not a driver error)."""


class StepSkipped(Exception):
    """The step does not apply to this run (say, DDL under --read-only); the message says why."""


@dataclass
class StepResult:
    name: str
    status: str = "skipped"  # passed / failed / skipped
    duration_ms: float = 0.0
    detail: str = ""
    error: str | None = None  # the redacted error text of a failed step
    differences: list[str] = field(default_factory=list)  # schema drift that fails the step
    extras: list[str] = field(default_factory=list)  # found only in the database: reported, not failed

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "status": self.status,
                               "duration_ms": round(self.duration_ms, 2), "detail": self.detail}
        if self.error is not None:
            out["error"] = self.error
        if self.differences or self.extras:
            out["differences"], out["extras"] = self.differences, self.extras
        return out


@dataclass
class SanityReport:
    database: str  # masked URL
    dialect: str
    metadata: str  # "module:attr" of the checked metadata
    token: str
    steps: list[StepResult] = field(default_factory=lambda: [StepResult(n) for n in STEP_NAMES])
    triage: dict[str, Any] | None = None
    cleanup: str = ""
    duration_ms: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)  # no_create, read_only, alembic
    will_create: list[str] = field(default_factory=list)  # announced before the schema step ran
    created: list[str] = field(default_factory=list)  # objects this run created (and left)
    driver: str | None = None  # the driver the engine used, and why (neondoctor.drivers)
    driver_reason: str = ""

    @property
    def passed(self) -> bool:
        """No step failed (a step skipped by choice, say --read-only's schema, does not fail the run)."""
        return not any(s.status == "failed" for s in self.steps) and any(s.status == "passed" for s in self.steps)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.passed else EXIT_FINDINGS

    @property
    def failed_step(self) -> StepResult | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    def step(self, name: str) -> StepResult:
        return next(s for s in self.steps if s.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "database": self.database,
            "dialect": self.dialect,
            "metadata": self.metadata,
            "run_token": self.token,
            "driver": self.driver,
            "driver_reason": self.driver_reason,
            "duration_ms": round(self.duration_ms, 2),
            "steps": [s.to_json() for s in self.steps],
            "cleanup": self.cleanup,
            "options": self.options,
            "will_create": self.will_create,
            "created": self.created,
            "triage": self.triage,
        }


def error_text(exc: BaseException) -> str:
    """One readable line for a step's error: the driver's message, not SQLAlchemy's wrapper."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, StepFailed | ConfigError):
        base = str(exc)
    elif isinstance(exc, DBAPIError) and exc.orig is not None:
        base = f"{type(exc.orig).__name__}: {exc.orig}"
    else:
        base = f"{type(exc).__name__}: {exc}"
    lines = [ln.strip() for ln in base.strip().splitlines() if ln.strip()]
    # Drop SQLAlchemy's statement/parameter echo and its background link; keep the server's lines.
    # and psycopg2's "LINE 2: CREATE TABLE ..." / "^" pointer, which only repeat the statement.
    lines = [ln for ln in lines if not ln.startswith(("[SQL:", "[parameters:", "(Background on", "LINE ", "^"))]
    return redact(" ".join(lines)[:1000])


@contextmanager
def timed(result: StepResult) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
        result.status = "passed"
    except StepSkipped as why:
        result.status, result.detail = "skipped", str(why)
    except Exception as exc:
        result.status = "failed"
        result.error = error_text(exc)
        result.detail = result.detail or result.error
    finally:
        result.duration_ms = (time.perf_counter() - start) * 1000

