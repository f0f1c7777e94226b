"""The stdlib logging path redaction wraps: a filter on the loggers neondoctor's library code uses.

Apart from outputs.py so that importing redaction (every command does, for its output streams)
does not import `logging`: a command that logs nothing never loads it.
"""

from __future__ import annotations

import logging

from neondoctor.redaction.redactor import redact, redact_value

# Attributes every LogRecord has; anything else on a record came from `extra=` and may hold a secret.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """A `logging.Filter` that masks secrets in a record's message, args and `extra` fields.

    Attached to the loggers neondoctor's library code logs through, so an application's own
    handlers (files, Sentry, OpenTelemetry bridges) never receive a password.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            record.args = redact_value(record.args) if isinstance(record.args, tuple | dict) else record.args
        for key, value in list(vars(record).items()):
            if key not in _RECORD_ATTRS:
                setattr(record, key, redact_value(value))
        return True
