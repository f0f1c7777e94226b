"""The one redaction mechanism: every byte neondoctor prints, logs or writes passes through here.

Two layers, because neither alone is enough:

* known secrets: the password of every URL neondoctor loads (userinfo and ``?password=``) is
  registered with its percent-encoded, JSON-escaped and quoted forms and masked wherever it appears,
  even inside a driver's free-form error text;
* patterns: URL userinfo, ``password=...``/``DB_PASSWORD=...``/``Pwd=...`` keys in DSNs, env files,
  JSON (escaped or not), Ruby hashes and ODBC strings are masked even when the secret was never
  registered (a URL pasted into ``triage``, a log line being scanned).

A registered secret shorter than ``STRONG_LENGTH`` may be an ordinary word (``app``, ``postgres``):
it is masked only where it stands as a token (not inside another word, a URL scheme or a JSON key),
so ``by_application`` and ``postgresql+psycopg2://`` survive. Longer secrets are masked anywhere.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, quote_plus, unquote

MASK = "****"
STRONG_LENGTH = 12  # below this a password may be a word; the url audit flags it as weak

# A key whose value is a secret: password, sslpassword, PGPASSWORD, DB_PASSWORD, passwd, user_pwd, Pwd.
_SECRET_KEY = r"(?i:\w*(?:password|passwd)|\w*_pwd|pwd)"
_SECRET_KEY_RE = re.compile(rf"{_SECRET_KEY}")
# key, its closing quote (maybe escaped, as in a JSON string inside a log line), then = : or =>,
# then the value: escaped-quoted, double-quoted, single-quoted, ODBC {braced}, or bare.
_KEY_VALUE = re.compile(
    rf"(?<!\w)(?P<key>{_SECRET_KEY})(?:\\?[\"'])?\s{{0,3}}(?:=>|[=:])\s{{0,3}}"
    r"(?:(?P<eq>\\\")(?P<s1>(?:(?!\\\")[^\n]){1,512})"
    r"|(?P<dq>\")(?P<s2>(?:\\.|[^\"\\\n]){1,512})"
    r"|(?P<sq>')(?P<s3>[^'\n]{1,512})"
    r"|(?P<br>\{)(?P<s4>[^}\n]{1,512})"
    r"|(?P<s5>[^\s,;&)}\"'<>][^\s,;&)}\"']{0,511}))"
)
_SCHEME = re.compile(r"(?<![\w+.\-])[a-zA-Z][a-zA-Z0-9+.\-]{0,40}://")
_USER = re.compile(r"[^:/?#@\s'\"<>\[]{0,256}:")
# What follows the '@' that ends a password: a host (name or [IPv6]), maybe a port, then the end of
# the authority.
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9_][A-Za-z0-9_.\-]{0,252})(?::\d{0,5})?"
                   r"(?=[/?#\s'\"<>,;)\]}]|$)")
_PORT_LIKE = re.compile(r"\d{1,5}(?:[/\s?#]|$)")
_UNSAFE_IN_TIER1 = re.compile(r"[\s'\"<>]")
# Where a short secret is never masked: URL schemes, JSON object keys, and the keys of key=value
# pairs (a query string, a DSN).
_PROTECTED = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,40}://|\"(?:[^\"\\\n]|\\.){0,200}\"(?=\s*:)"
                        r"|(?<![^\s?&;,(])[A-Za-z_][\w.\-]{0,63}(?==)")
# The masks above leave these behind; they are never secrets.
_ALREADY_MASKED = {MASK, "***", "xxx", "<password>", "None", "null"}


def is_secret_key(key: str) -> bool:
    """True for a parameter or variable name whose value is a password (``sslpassword``, ``DB_PWD``)."""
    return _SECRET_KEY_RE.fullmatch(key) is not None


def secret_forms(secret: str) -> set[str]:
    """The forms a secret travels in: raw, percent-encoded (once, twice, plus), JSON and repr escaped."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), unquote(secret)}
    forms |= {quote(f, safe="") for f in list(forms)}
    for f in list(forms):
        forms |= {json.dumps(f)[1:-1], json.dumps(f, ensure_ascii=False)[1:-1], repr(f)[1:-1]}
    # Very short values would mask ordinary characters; they are still caught by the patterns.
    return {f for f in forms if len(f) >= 3}


class Redactor:
    """Masks known secrets and secret-shaped substrings. Thread-safe; one process-wide instance."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        self._strong: tuple[str, ...] = ()
        self._weak: re.Pattern[str] | None = None

    def register(self, secret: str | None) -> None:
        """Remember a secret so that every later output masks it, in all the forms it travels in."""
        if not secret:
            return
        forms = secret_forms(secret)
        with self._lock:
            if not forms <= set(self._secrets):
                self._install(self._secrets + tuple(forms))

    def forget_all(self) -> None:
        self.restore(())

    def restore(self, secrets: tuple[str, ...]) -> None:
        """Keep only `secrets` (an earlier `.secrets`): many commands run in one test process."""
        with self._lock:
            self._install(secrets)

    def _install(self, secrets: tuple[str, ...]) -> None:
        # Longest first, so an encoded form is masked whole before its raw substring.
        self._secrets = tuple(sorted(set(secrets), key=lambda f: (-len(f), f)))
        self._strong = tuple(f for f in self._secrets if len(f) >= STRONG_LENGTH)
        weak = [_token_pattern(f) for f in self._secrets if len(f) < STRONG_LENGTH]
        self._weak = re.compile("|".join(weak)) if weak else None

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._secrets

    def text(self, value: str) -> str:
        if not value:
            return value
        for secret in self._strong:
            if secret in value:
                value = value.replace(secret, MASK)
        weak = self._weak
        if weak is not None and weak.search(value):
            value = _mask_tokens(weak, value)
        if "://" in value:
            value = _mask_urls(value)
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

    def held_from(self, text: str) -> int:
        """Where the part of `text` that a later write could turn into a secret begins (len: none).

        Used when a partial line must be flushed: everything before it can be shown already.
        """
        cut = len(text)
        for form in self._secrets:
            for start in range(max(0, len(text) - len(form) + 1), len(text)):
                if form.startswith(text[start:]):
                    cut = min(cut, start)
                    break
        return cut


def _token_pattern(form: str) -> str:
    # A word character at an edge of the secret must not touch another word character, except a
    # percent escape before it (a URL encoded once more: %3Aapp%40).
    left = r"(?:(?<!\w)|(?<=%[0-9A-Fa-f]{2}))" if re.match(r"\w", form[0]) else ""
    right = r"(?!\w)" if re.match(r"\w", form[-1]) else ""
    return left + re.escape(form) + right


def _mask_tokens(pattern: re.Pattern[str], value: str) -> str:
    protected = [m.span() for m in _PROTECTED.finditer(value)]

    def sub(match: re.Match[str]) -> str:
        start, end = match.span()
        if any(p_start <= start and end <= p_end for p_start, p_end in protected):
            return match.group(0)
        return MASK

    return pattern.sub(sub, value)


def _mask_urls(value: str) -> str:
    """Mask the password of every scheme://user:password@host, even with unencoded @ ? # space or "."""
    out: list[str] = []
    pos = 0
    for scheme in _SCHEME.finditer(value):
        if scheme.start() < pos:
            continue
        user = _USER.match(value, scheme.end())
        if not user:
            continue
        end = _password_end(value, user.end())
        if end is None or value[user.end():end] in _ALREADY_MASKED:
            continue
        out += [value[pos:user.end()], MASK]
        pos = end
    out.append(value[pos:])
    return "".join(out)


def _password_end(value: str, start: int) -> int | None:
    """Index of the '@' that ends the password starting at `start`, or None when there is none.

    First the usual shape: no blank or quote in the password, up to the last '@' before a host.
    Then, failing that, a password holding blanks or quotes: up to the first '@' before a host,
    unless what follows the ':' is a port (scheme://host:5432/db ... a@b is not a password).
    """
    line_end = value.find("\n", start)
    limit = min(len(value) if line_end < 0 else line_end, start + 1024)
    blank = _UNSAFE_IN_TIER1.search(value, start, limit)
    tier1_end = blank.start() if blank else limit
    at = value.rfind("@", start, tier1_end)
    while at > start:
        if _HOST.match(value, at + 1):
            return at
        at = value.rfind("@", start, at)
    if blank is None or _PORT_LIKE.match(value, start):
        return None
    at = value.find("@", tier1_end, min(limit, start + 256))
    while at > start:
        if "://" not in value[start:at] and _HOST.match(value, at + 1):
            return at
        at = value.find("@", at + 1, min(limit, start + 256))
    return None


def _mask_key_value(match: re.Match[str]) -> str:
    for group in ("s1", "s2", "s3", "s4", "s5"):
        if match.group(group) is not None:
            break
    secret = match.group(group)
    if secret in _ALREADY_MASKED:
        return match.group(0)
    prefix = match.string[match.start():match.start(group)]
    if group == "s5" and match.group("key").lower() == "pwd" and secret[0] in "/~":
        return match.group(0)  # PWD=/home/app is the shell's working directory, not a password
    return prefix + MASK


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


_BUFFER_LIMIT = 65536
_BUFFER_KEEP = 4096
_KEY_OR_URL = re.compile(rf"{_SECRET_KEY}|{_SCHEME.pattern}")


class RedactingStream(io.TextIOBase):
    """Wraps stdout/stderr: buffers to the end of a line, then writes it redacted.

    Line buffering matters: ``print`` writes a message and its newline separately, and a secret
    could otherwise be split between two writes. A ``flush()`` in the middle of a line (user code
    printing with ``end=""``) shows only what no later write can turn into a secret: the text
    before the last blank, a secret key, a URL or the start of a registered secret. The rest waits
    for its newline or for ``drain()`` at exit.
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
        if len(self._pending) > _BUFFER_LIMIT:
            keep = len(self._pending) - _BUFFER_KEEP
            self._inner.write(redact(self._pending[:keep]))
            self._pending = self._pending[keep:]
        return len(s)

    def flush(self) -> None:
        if self._pending:
            cut = _shown_before(self._pending)
            if cut:
                self._inner.write(redact(self._pending[:cut]))
                self._pending = self._pending[cut:]
        self._inner.flush()

    def drain(self) -> None:
        """Write everything held back (at exit: the last partial line), redacted."""
        if self._pending:
            self._inner.write(redact(self._pending))
            self._pending = ""
        self._inner.flush()

    def close(self) -> None:
        self.drain()  # the wrapped stream belongs to the caller: never close it

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


def _shown_before(partial: str) -> int:
    """How much of a partial line a mid-line flush may show (see RedactingStream)."""
    blank = max(partial.rfind(" "), partial.rfind("\t"))
    cut = blank + 1 if blank >= 0 else 0
    for match in _KEY_OR_URL.finditer(partial):
        cut = min(cut, match.start())
        break
    return min(cut, REDACTOR.held_from(partial))


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
