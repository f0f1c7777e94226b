"""From candidate lines to incidents: the full matcher on each, and a multi-line record counted once.

A match joins the record of the previous match when it and every line in between are continuation
lines (indented, blank, `Traceback ...`, an exception line, SQLAlchemy's `(Background on this error
...)`...); then it does not count again for a runbook already counted in that record.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

from neondoctor.redaction import redact
from neondoctor.triage.logscan.model import Incident, ScanResult

MAX_GAP = 200  # lines between two matches of one record at most
SAMPLE_CHARS = 300
_SAMPLE_BYTES = 1 << 16  # redacted before the cut to SAMPLE_CHARS, so a secret is seen whole

# A line that continues the record above it rather than starting a new one.
_CONTINUATION = re.compile(
    rb"(?:[ \t]|$|Traceback \(most recent call last\)|During handling of the above exception"
    rb"|The above exception was the direct cause|\(Background on this error at|\[SQL: |\[parameters: "
    rb"|DETAIL: |HINT: |CONTEXT: |[A-Za-z_][\w.]{0,200}(?:Error|Exception|Warning|Exit)\b)"
)


def is_continuation(line: bytes) -> bool:
    """Does this line continue the record above it (rather than start a new one)?"""
    return _CONTINUATION.match(line) is not None


_MONTHS = rb"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
# ISO-8601 (also PostgreSQL's `2026-11-24 10:00:00.123 UTC`), syslog, and common log format.
_TIMESTAMP = re.compile(
    rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?: ?(?:Z|[+-]\d\d:?\d\d|UTC|GMT)\b)?"
    rb"|\b" + _MONTHS + rb" [ 0-3]\d \d\d:\d\d:\d\d"
    rb"|\b\d\d/" + _MONTHS + rb"/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}"
)
_TS_WINDOW = 200  # bytes at the start of a line where a timestamp is looked for
_TS_LOOKBACK = 16384  # bytes above an untimestamped match searched for the record's timestamp

Buffer = bytes | bytearray
Candidates = list[tuple[int, int]] | None


class LineMatcher(Protocol):
    """What the scanner needs from `neondoctor.triage.matcher.Matcher` (one source of truth)."""

    runbooks: Sequence[Any]
    literals: tuple[str, ...]

    def match_line(self, line: str) -> Any:  # None, or a match with `.runbook.id`
        ...

    def match_candidate(self, line: str) -> Any:  # match_line without its literal pre-filter
        ...

    def prepare(self) -> None:  # build the per-line machinery now (before the scan forks)
        ...


class Recorder:
    def __init__(self, matcher: LineMatcher, filtered: bool, result: ScanResult) -> None:
        self.matcher, self.result = matcher, result
        # A line the finder returned holds an anchor: the matcher's own pre-filter would only repeat that.
        self.match = matcher.match_candidate if filtered else matcher.match_line
        self.block_open = False
        self.block_runbooks: set[str] = set()
        self.block_last_line = 0
        self.block_seen: str | None = None
        self.carried_seen: str | None = None  # timestamp of the record open at the previous block's end

    @staticmethod
    def _every_line(buf: Buffer, lo: int, hi: int) -> list[tuple[int, int]]:
        out, start = [], lo
        while start < hi:
            end = buf.find(b"\n", start, hi)
            end = hi if end < 0 else end
            out.append((start, end))
            start = end + 1
        return out

    def feed(self, buf: Buffer, lo: int, hi: int, base_line: int, candidates: Candidates = None) -> int:
        """Scan buf[lo:hi] (whole lines, each ending with a newline); its first line is `base_line + 1`.

        `candidates`: the finder's lines of the block (None: every line). Returns the number of lines
        in the block (counted on the way, so the block is read once)."""
        prev_end = lo - 1  # offset of the newline that ends the previous match in this block
        newlines, counted_to = 0, lo  # newlines in buf[lo:counted_to]
        for start, end in self._every_line(buf, lo, hi) if candidates is None else candidates:
            newlines += buf.count(b"\n", counted_to, start)
            counted_to = start
            raw_line = bytes(buf[start:end])
            found = self.match(raw_line.decode("utf-8", "replace"))
            if found is None:
                continue
            line_no = base_line + newlines + 1
            continues = _continues(buf, prev_end + 1, start)
            self._record(found.runbook.id, line_no, raw_line, continues, lambda s=start: _record_timestamp(buf, lo, s))
            prev_end = end
        # The timestamp of the record still open at the end of this block, for the next one.
        found_ts, tail_seen = _record_timestamp(buf, lo, hi)
        self.carried_seen = tail_seen if found_ts else self.carried_seen
        if self.block_open:
            # The record stays open into the next block only if the rest of this one continues it.
            self.block_open = _continues(buf, prev_end + 1, hi)
        return newlines + buf.count(b"\n", counted_to, hi)

    def feed_piece(self, buf: Buffer, lo: int, hi: int, line_no: int, candidates: Candidates = None) -> None:
        """A piece of a line too long to hold at once; every piece of it carries the line's number."""
        if candidates is not None and not candidates:
            return
        raw_line = bytes(buf[lo:hi])
        found = self.match(raw_line.decode("utf-8", "replace"))
        if found is not None:
            self._record(found.runbook.id, line_no, raw_line, True, lambda: (False, None))

    def _record(self, runbook: str, line_no: int, raw_line: bytes, between_continues: bool,
                record_timestamp: Any) -> None:
        is_continuation = _CONTINUATION.match(raw_line) is not None
        # An untimestamped continuation line takes the timestamp of the record it belongs to.
        seen = _timestamp(raw_line)
        if seen is None and is_continuation:
            found, seen = record_timestamp()
            if not found:
                seen = self.carried_seen
        same_line = self.block_open and line_no == self.block_last_line  # pieces of one long line
        joins = same_line or (
            self.block_open and line_no - self.block_last_line <= MAX_GAP and is_continuation and between_continues
        )
        if joins:
            seen = seen or self.block_seen
        else:
            self.block_runbooks = set()
            self.block_seen = seen
        self.block_open = True
        self.block_last_line = line_no
        incident = self.result.incidents.get(runbook)
        if incident is None:
            sample = redact(raw_line[:_SAMPLE_BYTES].decode("utf-8", "replace").strip())[:SAMPLE_CHARS]
            self.result.incidents[runbook] = Incident(runbook, 1, line_no, line_no, seen, seen, sample)
        else:
            if runbook not in self.block_runbooks:
                incident.count += 1
            incident.last_line = line_no
            if seen:
                incident.last_seen = seen
                incident.first_seen = incident.first_seen or seen
        self.block_runbooks.add(runbook)


def _continues(buf: Buffer, lo: int, hi: int) -> bool:
    """True when every line of buf[lo:hi] (whole lines) continues the record above it.

    Walks at most MAX_GAP + 1 lines: a plain log line ends it at once, whatever the region's size.
    """
    start, seen = lo, 0
    while start < hi:
        end = buf.find(b"\n", start, hi)
        end = hi if end < 0 else end
        seen += 1
        if seen > MAX_GAP or not _CONTINUATION.match(buf, start, end):
            return False
        start = end + 1
    return True


def _timestamp(line: bytes) -> str | None:
    found = _TIMESTAMP.search(line, 0, _TS_WINDOW)
    return found.group(0).decode("ascii", "replace") if found else None


def _record_timestamp(buf: Buffer, lo: int, start: int) -> tuple[bool, str | None]:
    """The timestamp of the record that the line at `start` continues: the nearest record start above.

    Returns (found, timestamp): found is False when only continuation lines lie above in the window.
    """
    low = max(lo, start - _TS_LOOKBACK)
    lines = bytes(buf[low:start]).split(b"\n")
    if low > lo:
        lines = lines[1:]  # the first piece is a partial line
    for line in reversed(lines):
        if not _CONTINUATION.match(line) or _timestamp(line):
            return True, _timestamp(line)
    return low > lo, None  # window exhausted: give up; block start reached: ask the previous block
