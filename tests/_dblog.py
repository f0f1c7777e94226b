"""Capture the records of the stdlib logger `neondoctor.db` the way an application's handler would."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any


class ListHandler(logging.Handler):
    def __init__(self, events: list[dict[str, Any]]) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.events.append(as_event(record))


def as_event(record: logging.LogRecord) -> dict[str, Any]:
    return {"event": getattr(record, "event", record.getMessage()), "log_level": record.levelname.lower(),
            "message": record.getMessage(), **getattr(record, "fields", {})}


@contextlib.contextmanager
def capture(level: int = logging.DEBUG, logger: str = "neondoctor.db") -> Iterator[list[dict[str, Any]]]:
    """Yields a list that fills with one dict per record (event, log_level, message, fields)."""
    target = logging.getLogger(logger)
    events: list[dict[str, Any]] = []
    handler = ListHandler(events)
    old_level = target.level
    target.addHandler(handler)
    target.setLevel(level)
    try:
        yield events
    finally:
        target.removeHandler(handler)
        target.setLevel(old_level)


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == name]


def reset_logging() -> None:
    """Undo what configure_logging did to the stdlib `neondoctor` logger (its bridge and level)."""
    logger = logging.getLogger("neondoctor")
    for handler in [h for h in logger.handlers if type(h).__name__ == "_StructlogBridge"]:
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
