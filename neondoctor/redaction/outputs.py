"""The output paths that redaction wraps: the stdout/stderr streams (stdlib logging records: logfilter.py).

Files go through ``write_text`` and structlog events through neondoctor.log's processor; both call
the same ``redact`` as these wrappers.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import TextIO

from neondoctor.redaction.redactor import REDACTOR, redact
from neondoctor.redaction.shapes import KEY_OR_URL

_BUFFER_LIMIT = 65536
_BUFFER_KEEP = 4096


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
    for match in KEY_OR_URL.finditer(partial):
        cut = min(cut, match.start())
        break
    return min(cut, REDACTOR.held_from(partial))


def redacting(streams: Iterable[TextIO]) -> list[RedactingStream]:
    return [s if isinstance(s, RedactingStream) else RedactingStream(s) for s in streams]
