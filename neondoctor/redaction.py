"""The one redaction mechanism: every byte neondoctor prints, logs or writes passes through here.

Two layers, because neither alone is enough:

* known secrets: the password of every URL neondoctor loads is registered (with its percent-encoded
  and quoted forms) and masked wherever it appears, even inside a driver's free-form error text;
* patterns: URL userinfo, ``password=...`` in key=value DSNs, and ``PGPASSWORD=...`` are masked even
  when the secret was never registered (a URL pasted into ``triage``, a log line being scanned).
"""

from __future__ import annotations

import io
import logging
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, quote_plus, unquote

MASK = "****"

# scheme://user:password@host  -> the password part; the scheme may carry a +driver suffix.
_URL_USERINFO = re.compile(
    r"(?P<prefix>\b[a-zA-Z][a-zA-Z0-9+.\-]{0,40}://[^:/?#@\s'\"<>]{0,256}:)"
    r"(?P<secret>[^@\s'\"<>]{1,512})"
    r"(?P<at>@)"
)
# password=secret / password: secret / "password": "secret" in DSNs, dicts and JSON.
_KEY_VALUE = re.compile(
    r"(?P<prefix>(?i:\b(?:password|passwd|pgpassword)\b)[\"']?\s{0,3}[=:]\s{0,3}"
    r"(?P<quote>[\"'])?)"
    r"(?P<secret>(?(quote)[^\"'\n]{1,512}|[^\s,;&}\"'\n]{1,512}))"
)
# The masks above leave these behind; they are never secrets.
_ALREADY_MASKED = {MASK, "***", "xxx", "<password>", "None", "null"}


class Redactor:
    """Masks known secrets and secret-shaped substrings. Thread-safe; one process-wide instance."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()

    def register(self, secret: str | None) -> None:
        """Remember a secret so that every later output masks it, in all the forms it travels in."""
        if not secret:
            return
        forms = {secret, quote(secret, safe=""), quote_plus(secret), unquote(secret)}
        forms |= {quote(f, safe="") for f in list(forms)}
        # Very short values would mask ordinary words; they are still caught by the patterns.
        forms = {f for f in forms if len(f) >= 3}
        with self._lock:
            merged = set(self._secrets) | forms
            # Longest first, so an encoded form is masked whole before its raw substring.
            self._secrets = tuple(sorted(merged, key=len, reverse=True))

    def forget_all(self) -> None:
        with self._lock:
            self._secrets = ()

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._secrets

    def text(self, value: str) -> str:
        if not value:
            return value
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        value = _URL_USERINFO.sub(_mask_url, value)
        return _KEY_VALUE.sub(_mask_key_value, value)

    def value(self, obj: Any) -> Any:
        """Redact strings anywhere inside dicts, lists and tuples (JSON documents, log events)."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {self.value(k): self.value(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return type(obj)(self.value(v) for v in obj)
        if isinstance(obj, BaseException):
            return self.text(f"{type(obj).__name__}: {obj}")
        return obj


def _mask_url(match: re.Match[str]) -> str:
    if match.group("secret") in _ALREADY_MASKED:
        return match.group(0)
    return f"{match.group('prefix')}{MASK}{match.group('at')}"


def _mask_key_value(match: re.Match[str]) -> str:
    if match.group("secret") in _ALREADY_MASKED:
        return match.group(0)
    return f"{match.group('prefix')}{MASK}"


REDACTOR = Redactor()


def register_secret(secret: str | None) -> None:
    REDACTOR.register(secret)


def redact(value: str) -> str:
    return REDACTOR.text(value)


def redact_value(obj: Any) -> Any:
    return REDACTOR.value(obj)


def write_text(path: str | Path, text: str) -> None:
    """Write a file neondoctor produces (reports, JUnit): redacted like every other output."""
    Path(path).write_text(redact(text), encoding="utf-8")


class RedactingStream(io.TextIOBase):
    """Wraps stdout/stderr: buffers to the end of a line, then writes it redacted.

    Line buffering matters: ``print`` writes a message and its newline separately, and a secret
    could otherwise be split between two writes.
    """

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner
        self._pending = ""

    def write(self, s: str) -> int:
        self._pending += s
        if "\n" in self._pending:
            head, _, tail = self._pending.rpartition("\n")
            self._inner.write(redact(head + "\n"))
            self._pending = tail
        if len(self._pending) > 65536:
            self.flush()
        return len(s)

    def flush(self) -> None:
        if self._pending:
            self._inner.write(redact(self._pending))
            self._pending = ""
        self._inner.flush()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._inner, "encoding", "utf-8")

    def writable(self) -> bool:
        return True

    @property
    def inner(self) -> TextIO:
        return self._inner


def redacting(streams: Iterable[TextIO]) -> list[RedactingStream]:
    return [s if isinstance(s, RedactingStream) else RedactingStream(s) for s in streams]


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
