"""The one structlog configuration: redaction runs before any renderer; logs go to stderr."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TextIO

import structlog

from neondoctor.redaction import redact_value

FORMATS = ("console", "json")
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def redact_processor(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask secrets in every key and value of the event."""
    return redact_value(event_dict)


def use_color(stream: TextIO) -> bool:
    from neondoctor.render.colour import wants_colour

    return wants_colour(stream)


def resolve_format(requested: str | None, stream: TextIO) -> str:
    fmt = (requested or os.environ.get("NEONDOCTOR_LOG_FORMAT") or "").strip().lower()
    if not fmt:
        return "console"
    if fmt not in FORMATS:
        from neondoctor.errors import ConfigError

        raise ConfigError(f"log format {fmt!r} is not one of: {', '.join(FORMATS)} (NEONDOCTOR_LOG_FORMAT)")
    return fmt


def configure_logging(fmt: str | None = None, level: str = "warning", stream: TextIO | None = None) -> str:
    """Configure structlog once for the process. Returns the format in force."""
    out = stream or sys.stderr
    chosen = resolve_format(fmt, out)
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_processor,
    ]
    if chosen == "json":
        processors.append(structlog.processors.JSONRenderer())
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=use_color(out)))
    _bridge_stdlib(processors, out, LEVELS.get(level, logging.WARNING))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS.get(level, logging.WARNING)),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    return chosen


class _StructlogBridge(logging.Handler):
    """Renders the library's stdlib records (logger `neondoctor.db`) the way the CLI renders its own."""

    def __init__(self, processors: list[Any], stream: TextIO, level: int) -> None:
        super().__init__(level)
        self._logger = structlog.wrap_logger(structlog.PrintLogger(stream), processors=processors,
                                             wrapper_class=structlog.make_filtering_bound_logger(level))

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "fields", None)
        event = getattr(record, "event", None) or record.getMessage()
        self._logger.log(record.levelno, event, logger=record.name, **(fields if isinstance(fields, dict) else {}))


def _bridge_stdlib(processors: list[Any], stream: TextIO, level: int) -> None:
    # The CLI owns its process, so it may route neondoctor's stdlib records; a library never does.
    from neondoctor.redaction import RedactingFilter

    logger = logging.getLogger("neondoctor")
    for handler in [h for h in logger.handlers if isinstance(h, _StructlogBridge)]:
        logger.removeHandler(handler)
    bridge = _StructlogBridge(processors, stream, level)
    bridge.addFilter(RedactingFilter())
    logger.addHandler(bridge)
    logger.setLevel(level)


def get_logger(name: str = "neondoctor") -> Any:
    return structlog.get_logger(name)
