"""From candidate lines to incidents, in two stages: the bytes, then the matcher.

A match joins the record of the previous match when it and every line in between are continuation
lines (indented, blank, `Traceback ...`, an exception line, SQLAlchemy's `(Background on this error
...)`...); then it does not count again for a runbook already counted in that record.

`Extractor` reads a block of lines once and needs no matcher: it counts the lines and turns each
line the finder returned into a `Candidate` that carries everything the record rules need from the
buffer (its number, whether it continues a record, its timestamp or its record's, whether the lines
before it all continue). `Recorder` runs the matcher on the candidates and applies the rules. So the
bytes can be read in other processes while this one is still building its matcher (parallel.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

from neondoctor.redaction import redact
from neondoctor.triage.logscan.model import Incident, ScanResult
from neondoctor.triage.logscan.source import Kind

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
Spans = list[tuple[int, int]] | None  # a finder's (start, end) of lines; None: every line


class LineMatcher(Protocol):
    """What the scanner needs from `neondoctor.triage.matcher.Matcher` (one source of truth)."""

    runbooks: Sequence[Any]
    literals: tuple[str, ...]

    def match_line(self, line: str) -> Any:  # None, or a match with `.runbook.id`
        ...

    def match_candidate(self, line: str) -> Any:  # match_line without its literal pre-filter
        ...

    def prepare(self) -> None:  # build the per-line machinery now (before the first line)
        ...


class Candidate(NamedTuple):
    """A line (or a piece of an overlong line) the finder returned, with what the record rules need."""

    line: int  # its number, counted from the start of what the extractor reads (1-based)
    raw: bytes
    continuation: bool  # it continues the record above it
    seen: str | None  # its timestamp; for a continuation line without one, its record's
    between: bool  # every line between the previous candidate of its block (or the block's start) and it continues
    piece: bool = False  # a piece of a line longer than max_line


class Block(NamedTuple):
    """The candidates of one block of lines, and how the block ends."""

    candidates: list[Candidate]
    tail: bool  # every line after the last candidate continues the record (for a piece: not applicable)
    piece: bool  # a piece of an overlong line, not whole lines
    consumed: int = 0  # bytes of the stream read so far (compressed ones for gzip): for the progress line


class Done(NamedTuple):
    """The end of what an extractor read."""

    lines: int
    bytes: int  # uncompressed bytes
    gzip: bool
    backend: str


class Extractor:
    """Stage 1: blocks of bytes -> candidates. Counts the lines; needs the finder, not the matcher."""

    def __init__(self, finder: Any) -> None:
        self.finder = finder  # None: every line is a candidate (a condition without a literal)
        self.lines = 0  # lines read so far
        self.carried_seen: str | None = None  # timestamp of the record open at the previous block's end

    def block(self, buf: Buffer, lo: int, hi: int, kind: Kind) -> Block:
        spans = self.finder.lines(buf, lo, hi) if self.finder is not None else None
        if kind is not Kind.LINES:
            return self._piece(buf, lo, hi, kind, spans)
        out: list[Candidate] = []
        prev_end = lo - 1  # offset of the newline that ends the previous candidate in this block
        newlines, counted_to = 0, lo  # newlines in buf[lo:counted_to]
        for start, end in _every_line(buf, lo, hi) if spans is None else spans:
            newlines += buf.count(b"\n", counted_to, start)
            counted_to = start
            raw = bytes(buf[start:end])
            continuation = is_continuation(raw)
            seen = _timestamp(raw)
            if seen is None and continuation:
                found, seen = _record_timestamp(buf, lo, start)
                if not found:
                    seen = self.carried_seen
            out.append(Candidate(self.lines + newlines + 1, raw, continuation, seen,
                                 _continues(buf, prev_end + 1, start)))
            prev_end = end
        # The timestamp of the record still open at the end of this block, for the next one.
        found_ts, tail_seen = _record_timestamp(buf, lo, hi)
        self.carried_seen = tail_seen if found_ts else self.carried_seen
        self.lines += newlines + buf.count(b"\n", counted_to, hi)
        return Block(out, _continues(buf, prev_end + 1, hi), False)

    def _piece(self, buf: Buffer, lo: int, hi: int, kind: Kind, spans: Spans) -> Block:
        """A piece of a line too long to hold at once; every piece of it carries the line's number."""
        out: list[Candidate] = []
        if spans is None or spans:
            raw = bytes(buf[lo:hi])
            continuation = is_continuation(raw)
            seen = _timestamp(raw)
            out.append(Candidate(self.lines + 1, raw, continuation,
                                 self.carried_seen if seen is None and continuation else seen, True, True))
        self.lines += kind is Kind.LAST_PIECE
        return Block(out, True, True)


class Recorder:
    """Stage 2: candidates -> the full matcher -> incidents, a record counted once."""

    def __init__(self, matcher: LineMatcher, filtered: bool, result: ScanResult) -> None:
        self.result = result
        # A line the finder returned holds an anchor: the matcher's own pre-filter would only repeat that.
        self.match = matcher.match_candidate if filtered else matcher.match_line
        self.block_open = False
        self.block_runbooks: set[str] = set()
        self.block_last_line = 0
        self.block_seen: str | None = None

    def feed(self, block: Block, base_line: int = 0) -> None:
        """Match a block's candidates; their numbers are offset by `base_line`."""
        chain = True  # every line since the previous match (or the block's start) continues the record
        for cand in block.candidates:
            found = self.match(cand.raw.decode("utf-8", "replace"))
            if cand.piece:
                if found is not None:
                    self._record(found.runbook.id, base_line + cand.line, cand, True)
                continue
            if found is None:
                chain = chain and cand.between and cand.continuation
                continue
            self._record(found.runbook.id, base_line + cand.line, cand, chain and cand.between)
            chain = True
        if self.block_open and not block.piece:
            # The record stays open into the next block only if the rest of this one continues it.
            self.block_open = chain and block.tail

    def absorb(self, incidents: dict[str, Incident], base: int) -> None:
        """Add the incidents another recorder counted in a range that starts a record (no record
        spans two ranges), its lines numbered from `base`."""
        for runbook, inc in incidents.items():
            have = self.result.incidents.get(runbook)
            if have is None:
                self.result.incidents[runbook] = Incident(runbook, inc.count, inc.first_line + base,
                                                          inc.last_line + base, inc.first_seen, inc.last_seen,
                                                          inc.sample)
                continue
            have.count += inc.count
            have.last_line = inc.last_line + base
            have.first_seen = have.first_seen or inc.first_seen
            have.last_seen = inc.last_seen or have.last_seen
        self.block_open = False

    def state(self) -> tuple[Any, ...]:
        """A copy of what the record rules have counted so far (restored when a range is read again)."""
        incidents = {k: Incident(**vars(v)) for k, v in self.result.incidents.items()}
        return incidents, self.block_open, set(self.block_runbooks), self.block_last_line, self.block_seen

    def restore(self, state: tuple[Any, ...]) -> None:
        incidents, self.block_open, runbooks, self.block_last_line, self.block_seen = state
        self.result.incidents = {k: Incident(**vars(v)) for k, v in incidents.items()}
        self.block_runbooks = set(runbooks)

    def _record(self, runbook: str, line_no: int, cand: Candidate, between_continues: bool) -> None:
        seen = cand.seen
        same_line = self.block_open and line_no == self.block_last_line  # pieces of one long line
        joins = same_line or (
            self.block_open and line_no - self.block_last_line <= MAX_GAP and cand.continuation and between_continues
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
            sample = redact(cand.raw[:_SAMPLE_BYTES].decode("utf-8", "replace").strip())[:SAMPLE_CHARS]
            self.result.incidents[runbook] = Incident(runbook, 1, line_no, line_no, seen, seen, sample)
        else:
            if runbook not in self.block_runbooks:
                incident.count += 1
            incident.last_line = line_no
            if seen:
                incident.last_seen = seen
                incident.first_seen = incident.first_seen or seen
        self.block_runbooks.add(runbook)


def _every_line(buf: Buffer, lo: int, hi: int) -> list[tuple[int, int]]:
    out, start = [], lo
    while start < hi:
        end = buf.find(b"\n", start, hi)
        end = hi if end < 0 else end
        out.append((start, end))
        start = end + 1
    return out


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
