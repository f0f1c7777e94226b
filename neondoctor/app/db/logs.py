"""The engine factory's logger: standard `logging`, silent unless the application configures it.

Every event is one record on the stdlib logger ``neondoctor.db``: the message reads
``pool.exhausted waited_s=1.0 checkedout=1 ...`` for plain formatters, and the same fields travel
as record attributes (``record.event``, ``record.fields`` and one attribute per field) for
structured handlers (JSON formatters, Sentry, OpenTelemetry log bridges). A `NullHandler` keeps the
library quiet when nothing is configured, and a redaction filter on the logger masks secrets
before any handler sees a record.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from neondoctor.log import bridge_stdlib
from neondoctor.redaction import RedactingFilter

LOGGER_NAME = "neondoctor.db"

log = logging.getLogger(LOGGER_NAME)
log.addHandler(logging.NullHandler())
if not any(isinstance(f, RedactingFilter) for f in log.filters):
    log.addFilter(RedactingFilter())
bridge_stdlib()  # the CLI's log format, when it set one before `logging` was loaded (else nothing)

# Fields may not shadow LogRecord attributes (logging raises KeyError for those in `extra`).
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _render(value: Any) -> str:
    text = str(value)
    return repr(text) if (" " in text or not text) else text


def emit(level: int, event: str, **fields: Any) -> None:
    """Log `event` with structured fields; costs one level check when the level is disabled."""
    if not log.isEnabledFor(level):
        return
    text = " ".join([event, *(f"{k}={_render(v)}" for k, v in fields.items())])
    extra = {(f"field_{k}" if k in _RESERVED else k): v for k, v in fields.items()}
    extra.update(event=event, fields=dict(fields))
    log.log(level, "%s", text, extra=extra)


def now_iso() -> str:
    """UTC timestamp for events whose time matters when read later (pool exhaustion)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error_text(exc: BaseException | None) -> str | None:
    """`Type: first line` of an error; the redaction filter masks it before any handler."""
    if exc is None:
        return None
    if type(exc).__name__ == "InvalidatePoolError":
        return "pool invalidated: a connection was found dead (pre-ping or disconnect)"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"
