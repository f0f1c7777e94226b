"""Scan a whole application log for known incidents, with the same runbooks and matcher as triage.

The log is read in large binary chunks (constant memory, any size; gzip detected by its magic
bytes; `-` is stdin). A literal pre-filter built from the matcher's own literals finds candidate
lines with `bytes.find` over the lower-cased chunk; only those lines reach the full matcher, so
ordinary lines cost a few C-level passes and no Python per line.

Incidents are grouped by runbook. Matches inside one multi-line block (a traceback with its
chained exceptions, a driver message and its indented hint) count once: a match joins the block
of the previous match when it and every line in between are continuation lines (indented, blank,
`Traceback ...`, an exception line, SQLAlchemy's `(Background on this error ...)`...).
"""

from __future__ import annotations

import re
import sys
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TextIO

from neondoctor.errors import ConfigError
from neondoctor.redaction import redact

CHUNK_SIZE = 1 << 20  # 1 MiB: big enough to amortise Python overhead, small enough to stay in cache
MAX_LINE = 4 << 20  # a "line" longer than this is cut, so memory stays bounded without newlines
MAX_GAP = 200  # lines between two matches of one block at most
SAMPLE_CHARS = 300
GZIP_MAGIC = b"\x1f\x8b"
# Cost model of the pre-filter (measured on CPython 3.11): one regex pass over a chunk costs about
# 0.4 ns per byte; each occurrence of a pass's key byte about 50 ns.
_PASS_NS, _HIT_NS = 0.4, 50.0

# A line that continues the record above it rather than starting a new one.
_CONTINUATION = re.compile(
    rb"(?:[ \t]|$|Traceback \(most recent call last\)|During handling of the above exception"
    rb"|The above exception was the direct cause|\(Background on this error at|\[SQL: |\[parameters: "
    rb"|DETAIL: |HINT: |CONTEXT: |[A-Za-z_][\w.]{0,200}(?:Error|Exception|Warning|Exit)\b)"
)
_MONTHS = rb"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
# ISO-8601 (also PostgreSQL's `2026-11-24 10:00:00.123 UTC`), syslog, and common log format.
_TIMESTAMP = re.compile(
    rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?: ?(?:Z|[+-]\d\d:?\d\d|UTC|GMT)\b)?"
    rb"|\b" + _MONTHS + rb" [ 0-3]\d \d\d:\d\d:\d\d"
    rb"|\b\d\d/" + _MONTHS + rb"/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}"
)
_TS_WINDOW = 200  # bytes at the start of a line where a timestamp is looked for
_TS_LOOKBACK = 16384  # bytes above an untimestamped match searched for the record's timestamp


class LineMatcher(Protocol):
    """What the scanner needs from `neondoctor.triage.matcher.Matcher` (one source of truth)."""

    runbooks: Sequence[Any]
    literals: tuple[str, ...]

    def match_line(self, line: str) -> Any:  # None, or a match with `.runbook.id`
        ...


@dataclass
class Incident:
    runbook: str
    count: int
    first_line: int
    last_line: int
    first_seen: str | None
    last_seen: str | None
    sample: str

    def to_json(self) -> dict[str, Any]:
        return {
            "runbook": self.runbook, "count": self.count, "first_line": self.first_line,
            "last_line": self.last_line, "first_seen": self.first_seen, "last_seen": self.last_seen,
            "sample": self.sample,
        }


@dataclass
class ScanResult:
    source: str
    lines: int = 0
    bytes: int = 0  # uncompressed bytes scanned
    gzip: bool = False
    seconds: float = 0.0
    incidents: dict[str, Incident] = field(default_factory=dict)

    def ordered(self) -> list[Incident]:
        return sorted(self.incidents.values(), key=lambda i: i.first_line)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source, "lines": self.lines, "bytes": self.bytes, "gzip": self.gzip,
            "incidents": [i.to_json() for i in self.ordered()],
        }


def prefilter_anchors(literals: Sequence[str]) -> tuple[bytes, ...]:
    """The matcher's literals, lower-cased, without those containing another (found anyway)."""
    lits = {lit.lower().encode("utf-8") for lit in literals if lit}
    return tuple(sorted(lit for lit in lits if not any(o != lit and o in lit for o in lits)))


def compile_prefilter(anchors: Sequence[bytes], sample: bytes) -> list[re.Pattern[bytes]]:
    """Few regexes that together find every anchor, each starting with one rare byte.

    `bytes.find` per anchor costs one pass over the chunk per anchor (~90 of them). Instead each
    anchor is keyed on its rarest byte in `sample` (the start of the log itself), and the anchors
    sharing that byte become one alternation `b(?:cd(?<=abcd)|...)`: `re` skips to that byte with a
    tight C loop, so the cost is one pass per key byte plus a little per occurrence; groups are then folded
    together while a cost estimate says that pays (~90 anchors end up in ~11 passes).
    """
    freq = [0] * 256
    for byte in sample.lower():
        freq[byte] += 1
    total = max(1, len(sample))
    chosen: dict[int, list[tuple[bytes, int]]] = {}
    for anchor in anchors:
        # the rarest byte; among equally rare ones, one another anchor already uses (fewer passes)
        k = min(range(len(anchor)), key=lambda i: (freq[anchor[i]], anchor[i] not in chosen, -i))
        chosen.setdefault(anchor[k], []).append((anchor, k))

    def cost(groups: dict[int, list[tuple[bytes, int]]]) -> float:
        # ns per byte of log: a pass over the chunk, plus work at each occurrence of the key byte
        return sum(_PASS_NS + freq[b] / total * _HIT_NS * (1 + 0.1 * len(items)) for b, items in groups.items())

    # Fold a group into the others (each anchor onto its rarest byte that still has a pass) while
    # the estimate says one pass fewer is worth the extra occurrences.
    improved = True
    while improved:
        improved = False
        for byte in sorted(chosen, key=lambda b: -freq[b]):
            trial = {b: list(items) for b, items in chosen.items() if b != byte}
            for anchor, _ in chosen[byte]:
                options = [i for i in range(len(anchor)) if anchor[i] in trial]
                if not options:
                    break
                i = min(options, key=lambda i: freq[anchor[i]])
                trial[anchor[i]].append((anchor, i))
            else:
                if cost(trial) < cost(chosen):
                    chosen, improved = trial, True
                    break
    patterns = []
    for byte, items in sorted(chosen.items()):
        # the rest after the key byte is checked first (fails fast); the lookbehind then confirms
        # that the whole anchor ends here
        alts = sorted(re.escape(a[i + 1:]) + (b"(?<=" + re.escape(a) + b")" if i else b"") for a, i in items)
        patterns.append(re.compile(re.escape(bytes([byte])) + b"(?:" + b"|".join(alts) + b")"))
    return patterns


class Progress:
    """A progress line on a terminal, drawn only once the scan has taken more than a second."""

    def __init__(self, stream: TextIO, total: int | None, delay: float = 1.0) -> None:
        self.stream, self.total, self.delay = stream, total, delay
        self.start = time.monotonic()
        self.last = 0.0
        self.drawn = False

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self.start < self.delay or now - self.last < 0.1:
            return
        self.last = now
        mb = done / 1e6
        rate = mb / (now - self.start)
        if self.total:
            frac = min(1.0, done / self.total)
            bar = "#" * int(frac * 30)
            text = f"\rscanning [{bar:<30}] {100 * frac:3.0f}% {mb:,.0f} MB {rate:,.0f} MB/s"
        else:
            text = f"\rscanning {mb:,.0f} MB {rate:,.0f} MB/s"
        self.stream.write(text)
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("\r" + " " * 72 + "\r")
            self.stream.flush()


def _open(source: str | Path) -> tuple[BinaryIO, int | None, bool]:
    if str(source) == "-":
        return sys.stdin.buffer, None, False
    path = Path(source)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise ConfigError(f"log file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"log file {path} is a directory") from None
    except OSError as exc:
        raise ConfigError(f"log file {path} cannot be read: {exc.strerror or exc}") from None
    try:
        size = path.stat().st_size
    except OSError:
        size = None
    return handle, size, True


def _chunks(raw: BinaryIO, result: ScanResult, chunk_size: int, progress: Progress | None) -> Iterator[bytes]:
    """Uncompressed chunks; gzip (any number of members) recognised by its first two bytes."""
    done = 0
    first = raw.read(chunk_size)
    if first[:2] != GZIP_MAGIC:
        data = first
        while data:
            done += len(data)
            if progress:
                progress.update(done)
            yield data
            data = raw.read(chunk_size)
        return
    result.gzip = True
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = first
    try:
        while data:
            done += len(data)
            if progress:
                progress.update(done)
            while data:
                out = inflater.decompress(data, chunk_size * 4)
                if out:
                    yield out
                data = inflater.unconsumed_tail
                if inflater.eof:  # next member of a concatenated gzip, or trailing garbage
                    rest = inflater.unused_data + data
                    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    data = rest if rest[:2] == GZIP_MAGIC else b""
            data = raw.read(chunk_size)
        tail = inflater.flush()
        if tail:
            yield tail
    except zlib.error as exc:
        raise ConfigError(f"{result.source} looks gzip-compressed but is corrupt: {exc}") from None


class _Scanner:
    def __init__(self, matcher: LineMatcher, result: ScanResult) -> None:
        self.matcher = matcher
        self.result = result
        self.anchors = prefilter_anchors(matcher.literals)
        self.patterns: list[re.Pattern[bytes]] | None = None  # built from the first block's bytes
        # A condition without a literal cannot be pre-filtered: every line is a candidate then.
        self.unfiltered = not self.anchors or any(
            not cond.literals for book in matcher.runbooks for cond in book.conditions
        )
        self.block_open = False
        self.block_runbooks: set[str] = set()
        self.block_last_line = 0
        self.block_seen: str | None = None
        self.carried_seen: str | None = None  # timestamp of the record open at the previous block's end

    def _candidates(self, block: bytes) -> list[tuple[int, int]]:
        """(start, end) of every line holding an anchor; end is the offset of its newline."""
        if self.unfiltered:
            out, start = [], 0
            while start < len(block):
                end = block.index(b"\n", start)
                out.append((start, end))
                start = end + 1
            return out
        low = block.lower()
        if self.patterns is None:
            self.patterns = compile_prefilter(self.anchors, low[:65536])
        found: dict[int, int] = {}
        for pattern in self.patterns:
            hit = pattern.search(low)
            while hit:
                i = hit.start()
                start = low.rfind(b"\n", 0, i) + 1
                end = low.find(b"\n", i)
                found[start] = end
                hit = pattern.search(low, end)
        return sorted(found.items())

    def feed(self, block: bytes, base_line: int) -> None:
        """Scan `block` (whole lines, ending with a newline) whose first line is `base_line + 1`."""
        prev_end = -1  # offset of the newline that ends the previous match in this block
        newlines, counted_to = 0, 0  # newlines in block[:counted_to]
        for start, end in self._candidates(block):
            newlines += block.count(b"\n", counted_to, start)
            counted_to = start
            raw_line = block[start:end]
            found = self.matcher.match_line(raw_line.decode("utf-8", "replace"))
            if found is None:
                continue
            self._record(found.runbook.id, block, start, prev_end, base_line + newlines + 1, raw_line)
            prev_end = end
        # The timestamp of the record still open at the end of this block, for the next one.
        found, tail_seen = _record_timestamp(block, len(block))
        self.carried_seen = tail_seen if found else self.carried_seen
        if self.block_open:
            # The block stays open into the next chunk only if the rest of this one continues it.
            self.block_open = _continues(block[prev_end + 1:])

    def _record(self, runbook: str, block: bytes, start: int, prev_end: int, line_no: int, raw_line: bytes) -> None:
        is_continuation = _CONTINUATION.match(raw_line) is not None
        # An untimestamped continuation line takes the timestamp of the record it belongs to.
        seen = _timestamp(raw_line)
        if seen is None and is_continuation:
            found, seen = _record_timestamp(block, start)
            if not found:
                seen = self.carried_seen
        joins = (
            self.block_open
            and line_no - self.block_last_line <= MAX_GAP
            and is_continuation
            and _continues(block[prev_end + 1:start])
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
            sample = redact(raw_line.decode("utf-8", "replace").strip())[:SAMPLE_CHARS]
            self.result.incidents[runbook] = Incident(runbook, 1, line_no, line_no, seen, seen, sample)
        else:
            if runbook not in self.block_runbooks:
                incident.count += 1
            incident.last_line = line_no
            if seen:
                incident.last_seen = seen
                incident.first_seen = incident.first_seen or seen
        self.block_runbooks.add(runbook)


def _continues(region: bytes) -> bool:
    """True when every line of `region` (whole lines) continues the record above it."""
    lines = region.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) > MAX_GAP:
        return False
    return all(_CONTINUATION.match(line) for line in lines)


def _timestamp(line: bytes) -> str | None:
    found = _TIMESTAMP.search(line, 0, _TS_WINDOW)
    return found.group(0).decode("ascii", "replace") if found else None


def _record_timestamp(block: bytes, start: int) -> tuple[bool, str | None]:
    """The timestamp of the record that the line at `start` continues: the nearest record start above.

    Returns (found, timestamp): found is False when only continuation lines lie above in the window.
    """
    lo = max(0, start - _TS_LOOKBACK)
    lines = block[lo:start].split(b"\n")
    if lo > 0:
        lines = lines[1:]  # the first piece is a partial line
    for line in reversed(lines):
        if not _CONTINUATION.match(line) or _timestamp(line):
            return True, _timestamp(line)
    return lo > 0, None  # window exhausted: give up; block start reached: ask the previous block


def scan(source: str | Path, matcher: LineMatcher, *, chunk_size: int = CHUNK_SIZE,
         progress_stream: TextIO | None = None) -> ScanResult:
    """Scan a log file (or `-` for stdin) for every incident the matcher's runbooks know."""
    result = ScanResult(source=str(source))
    raw, size, owned = _open(source)
    progress = Progress(progress_stream, size) if progress_stream is not None else None
    scanner = _Scanner(matcher, result)
    started = time.perf_counter()
    carry = b""
    lines = 0
    try:
        for chunk in _chunks(raw, result, chunk_size, progress):
            result.bytes += len(chunk)
            buf = carry + chunk if carry else chunk
            cut = buf.rfind(b"\n") + 1
            if cut == 0:
                if len(buf) <= MAX_LINE:
                    carry = buf
                    continue
                buf, cut = buf + b"\n", len(buf) + 1  # an endless line: scan it as one, bounded
            block, carry = buf[:cut], buf[cut:]
            scanner.feed(block, lines)
            lines += block.count(b"\n")
        if carry:
            scanner.feed(carry + b"\n", lines)
            lines += 1
    except OSError as exc:
        raise ConfigError(f"reading {source} failed: {exc.strerror or exc}") from None
    finally:
        if owned:
            raw.close()
        if progress:
            progress.finish()
    result.lines = lines
    result.seconds = time.perf_counter() - started
    return result


def render_text(result: ScanResult) -> str:
    mb = result.bytes / 1e6
    head = f"{result.source}: {result.lines:,} lines, {mb:,.1f} MB" + (" (gzip)" if result.gzip else "")
    if not result.incidents:
        return head + "\nno known incident found"
    total = sum(i.count for i in result.incidents.values())
    lines = [head, f"{total} incident{'s' if total != 1 else ''} of {len(result.incidents)} kind"
             f"{'s' if len(result.incidents) != 1 else ''}:", ""]
    for inc in result.ordered():
        span = f"lines {inc.first_line}-{inc.last_line}" if inc.first_line != inc.last_line else f"line {inc.first_line}"
        when = ""
        if inc.first_seen:
            when = f", {inc.first_seen}" + (f" .. {inc.last_seen}" if inc.last_seen != inc.first_seen else "")
        lines.append(f"  {inc.runbook:<18} {inc.count:>6}x  {span}{when}")
        lines.append(f"  {'':<18} e.g. {inc.sample}")
    lines += ["", "Next: neondoctor triage \"<one of the sample lines>\" walks that runbook's causes."]
    return "\n".join(lines)


def scan_log(source: str | Path, runbooks_dirs: Sequence[str | Path] = (), *,
             progress_stream: TextIO | None = None) -> ScanResult:
    """`triage --log`: scan with the very runbooks and matcher single-error triage uses."""
    from neondoctor.triage.matcher import Matcher
    from neondoctor.triage.runbook import load_runbooks

    return scan(source, Matcher(load_runbooks(list(runbooks_dirs))), progress_stream=progress_stream)
