"""Scan a whole application log for known incidents, with the same runbooks and matcher as triage.

The log is read in blocks of whole lines (4 MiB with Hyperscan) into one reused buffer, so
memory is flat in file size; gzip is detected by its magic bytes (a truncated one is an error);
`-` is stdin. A pre-filter finds the lines that hold one of the anchors derived from the matcher's
own literals: with Hyperscan when `neondoctor[fast]` is installed, else with a few `re` passes.
Only those lines reach the full matcher, so both backends give the same result, and ordinary lines
cost no Python at all. A big plain file is cut into ranges scanned by one process per CPU.
Incidents are grouped by runbook; a multi-line record (a traceback with its chained
exceptions) counts once.

anchors.py   literals -> the byte strings every backend searches (non-ASCII and JSON-escaped too)
backends.py  which engine (NEONDOCTOR_SCAN_BACKEND): backend_hyperscan.py, backend_python.py
source.py    file/stdin, gzip, blocks of whole lines, pieces of overlong lines
parallel.py  a big plain file cut into ranges, one forked process each
records.py   candidate lines -> matcher -> incidents, a record counted once
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

from neondoctor.errors import ConfigError
from neondoctor.triage.logscan.anchors import anchors as make_anchors
from neondoctor.triage.logscan.backends import Finder
from neondoctor.triage.logscan.model import Incident, ScanResult
from neondoctor.triage.logscan.progress import Progress
from neondoctor.triage.logscan.records import LineMatcher, Recorder
from neondoctor.triage.logscan.source import MAX_LINE, READ_SIZE, Kind, Reader, blocks, open_log

__all__ = ["Incident", "LineMatcher", "Progress", "ScanResult", "scan", "scan_log"]


def scan(source: str | Path, matcher: LineMatcher, *, chunk_size: int | None = None, max_line: int = MAX_LINE,
         progress_stream: TextIO | None = None, backend: str | None = None, workers: int | None = None
         ) -> ScanResult:
    """Scan a log file (or `-` for stdin) for every incident the matcher's runbooks know.

    `backend` overrides NEONDOCTOR_SCAN_BACKEND (hyperscan, python, auto); `chunk_size` (bytes per
    read) defaults to what suits the backend; `workers` overrides NEONDOCTOR_SCAN_WORKERS (how many
    processes scan a big plain file, each its own range: parallel.py).
    """
    from neondoctor.triage.logscan import parallel
    from neondoctor.triage.logscan.backends import make_finder

    found = make_anchors(matcher.literals)
    # A condition without a literal cannot be pre-filtered: every line is a candidate then.
    unfiltered = not found or any(not cond.literals for book in matcher.runbooks for cond in book.conditions)
    finder = None if unfiltered else make_finder(found, backend)
    chunk_size = chunk_size or (finder.block_size if finder else READ_SIZE)
    matcher.prepare()
    started = time.perf_counter()
    raw, size, owned = open_log(source)
    try:
        ranges = parallel.plan(raw.fileno(), size, workers) if owned else [(0, 0)]

        def scan_range(start: int, end: int, first: bool) -> ScanResult:
            if first:  # this process reads its range through the handle already open
                return _scan_stream(raw, source, matcher, finder, chunk_size, max_line, progress_stream,
                                    end - start, limit=end - start)
            with Path(source).open("rb", buffering=0) as part:  # a child's own offset, not the shared one
                part.seek(start)
                return _scan_stream(part, source, matcher, finder, chunk_size, max_line, None, end - start,
                                    limit=end - start)

        if len(ranges) == 1:
            result = _scan_stream(raw, source, matcher, finder, chunk_size, max_line, progress_stream, size)
        else:
            result = parallel.run(ranges, scan_range)
    finally:
        if owned:
            raw.close()
    result.seconds = time.perf_counter() - started
    return result


def _scan_stream(raw: BinaryIO, source: str | Path, matcher: LineMatcher, finder: Finder | None, chunk_size: int,
                 max_line: int, progress_stream: TextIO | None, size: int | None, *, limit: int | None = None
                 ) -> ScanResult:
    """One process's scan of a stream (a whole log, or with `limit` a range of one starting at a line)."""
    result = ScanResult(source=str(source))
    result.backend = finder.name if finder else "none (every line)"
    recorder = Recorder(matcher, finder is not None, result)
    progress = Progress(progress_stream, size) if progress_stream is not None else None
    lines = 0
    try:
        reader = Reader(raw, str(source), chunk_size, limit)
        result.gzip = reader.gzip

        # One thread: the engines hold the GIL, so a reading thread ahead of the matcher only made
        # the two wait on each other (measured slower, gzip included).
        for buf, lo, hi, kind in blocks(reader.fill, chunk_size, max_line):
            candidates = finder.lines(buf, lo, hi) if finder else None
            if kind is Kind.LINES:
                lines += recorder.feed(buf, lo, hi, lines, candidates)
            else:
                recorder.feed_piece(buf, lo, hi, lines + 1, candidates)
                lines += kind is Kind.LAST_PIECE
            if progress:
                progress.update(reader.consumed)
    except OSError as exc:
        raise ConfigError(f"reading {source} failed: {exc.strerror or exc}") from None
    finally:
        if progress:
            progress.finish()
    result.lines = lines
    result.bytes = reader.produced
    return result


def scan_log(source: str | Path, runbooks_dirs: Sequence[str | Path] = (), *,
             progress_stream: TextIO | None = None) -> ScanResult:
    """`triage --log`: scan with the very runbooks and matcher single-error triage uses."""
    from neondoctor.triage.matcher import Matcher
    from neondoctor.triage.runbook import load_runbooks

    return scan(source, Matcher(load_runbooks(list(runbooks_dirs))), progress_stream=progress_stream)
