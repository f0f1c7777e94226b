"""The one structlog configuration: redaction runs before any renderer; logs go to stderr.

Neither structlog nor the stdlib's `logging` is imported until something logs: most commands log
nothing, and start-up is a benchmark goal. The settings are kept and applied on first use.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

from neondoctor.redaction import redact_value

if TYPE_CHECKING:
    import logging

FORMATS = ("console", "json")
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}  # the stdlib's own values (logging.DEBUG...)


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
    """Configure logging once for the process. Returns the format in force.

    structlog itself (~0.1 s to import) is loaded only when something logs: most runs log nothing,
    and `triage` start-up is a benchmark goal. The settings are kept and applied on first use.
    """
    global _settings
    out = stream or sys.stderr
    chosen = resolve_format(fmt, out)
    _settings = (chosen, LEVELS.get(level, LEVELS["warning"]), out)
    if "logging" in sys.modules:  # else bridged when neondoctor's stdlib logger is created (app/db/logs.py)
        bridge_stdlib()
    if "structlog" in sys.modules:  # loaded already (a logger was used): configuring it costs nothing
        _apply()
    return chosen


_settings: tuple[str, int, TextIO] | None = None  # (format, level, stream) asked for by the CLI
_applied: tuple[str, int, TextIO] | None = None


def _processors(chosen: str, out: TextIO) -> list[Any]:
    import structlog

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
    return processors


def _apply() -> None:
    global _applied
    if _settings is None or _applied is _settings:
        return
    import structlog

    chosen, level, out = _settings
    structlog.configure(
        processors=_processors(chosen, out),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    _applied = _settings


def _bridge_class() -> type[logging.Handler]:
    """The handler class, made on first use (it subclasses logging.Handler)."""
    global _BRIDGE
    if _BRIDGE is None:
        import logging

        class _StructlogBridge(logging.Handler):
            """Renders the library's stdlib records (logger `neondoctor.db`) the way the CLI renders its own."""

            def __init__(self, stream: TextIO, level: int) -> None:
                super().__init__(level)
                self._stream = stream
                self._logger: Any = None  # built on the first record: structlog is imported only then

            def emit(self, record: logging.LogRecord) -> None:
                if self._logger is None:
                    import structlog

                    chosen = _settings[0] if _settings else "console"
                    self._logger = structlog.wrap_logger(structlog.PrintLogger(self._stream),
                                                         processors=_processors(chosen, self._stream),
                                                         wrapper_class=structlog.make_filtering_bound_logger(self.level))
                fields = getattr(record, "fields", None)
                event = getattr(record, "event", None) or record.getMessage()
                self._logger.log(record.levelno, event, logger=record.name,
                                 **(fields if isinstance(fields, dict) else {}))

        _BRIDGE = _StructlogBridge
    return _BRIDGE


_BRIDGE: type[logging.Handler] | None = None


def bridge_stdlib() -> None:
    """Route neondoctor's stdlib records through the configured renderer (after configure_logging).

    The CLI owns its process, so it may route neondoctor's stdlib records; a library never does:
    without configure_logging this does nothing."""
    if _settings is None:
        return
    import logging

    from neondoctor.redaction import RedactingFilter

    _chosen, level, stream = _settings
    bridge_type = _bridge_class()
    logger = logging.getLogger("neondoctor")
    for handler in [h for h in logger.handlers if isinstance(h, bridge_type)]:
        logger.removeHandler(handler)
    bridge = bridge_type(stream, level)  # type: ignore[call-arg]
    bridge.addFilter(RedactingFilter())
    logger.addHandler(bridge)
    logger.setLevel(level)


class _Logger:
    """A structlog logger that imports structlog on its first call, not when it is created."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None

    def __getattr__(self, attr: str) -> Any:
        if self._logger is None:
            import structlog

            _apply()
            self._logger = structlog.get_logger(self._name)
        return getattr(self._logger, attr)


def get_logger(name: str = "neondoctor") -> Any:
    return _Logger(name)
