"""Scan a whole application log for known incidents, with the same runbooks and matcher as triage.

The log is read in blocks of whole lines (4 MiB with Hyperscan) into one reused buffer, so
memory is flat in file size; gzip is detected by its magic bytes (a truncated one is an error);
`-` is stdin. A pre-filter finds the lines that hold one of the anchors derived from the matcher's
own literals: with Hyperscan when `neondoctor[fast]` is installed, else with a few `re` passes.
Only those lines reach the full matcher, so both backends give the same result, and ordinary lines
cost no Python at all. A big plain file is cut into ranges read by one process per CPU, which start
before this process has built its matcher and send it their candidate lines.
Incidents are grouped by runbook; a multi-line record (a traceback with its chained
exceptions) counts once.

anchors.py   literals -> the byte strings every backend searches (non-ASCII and JSON-escaped too)
backends.py  which engine (NEONDOCTOR_SCAN_BACKEND): backend_hyperscan.py, backend_python.py
source.py    file/stdin, gzip, blocks of whole lines, pieces of overlong lines
plan.py      how a big plain file is cut: one process per CPU, pieces at record starts
parallel.py  the forked readers of those pieces, their frames merged in file order
records.py   blocks -> candidate lines (no matcher) -> matcher -> incidents, a record counted once
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

from neondoctor.errors import ConfigError
from neondoctor.triage.logscan.anchors import anchors as make_anchors
from neondoctor.triage.logscan.backends import Finder
from neondoctor.triage.logscan.model import Incident, ScanResult
from neondoctor.triage.logscan.progress import Progress
from neondoctor.triage.logscan.records import Block, Done, Extractor, LineMatcher, Recorder
from neondoctor.triage.logscan.source import MAX_LINE, READ_SIZE, Reader, blocks, open_log

__all__ = ["Incident", "LineMatcher", "Progress", "ScanResult", "feed", "read_range", "scan", "scan_log"]


def scan(source: str | Path, matcher: LineMatcher | Callable[[], LineMatcher], *, chunk_size: int | None = None,
         max_line: int = MAX_LINE, progress_stream: TextIO | None = None, backend: str | None = None,
         workers: int | None = None, remember: str | None = None) -> ScanResult:
    """Scan a log file (or `-` for stdin) for every incident the matcher's runbooks know.

    `matcher` may be a function that builds one: a big file's readers then start while it runs, with
    the anchors the last scan keyed `remember` used (checked against the new matcher's; parallel.py).
    `backend` overrides NEONDOCTOR_SCAN_BACKEND (hyperscan, python, auto); `chunk_size` (bytes per
    read) defaults to what suits the backend; `workers` overrides NEONDOCTOR_SCAN_WORKERS (how many
    processes read a big plain file, each its own range).
    """
    from neondoctor.triage.logscan import parallel
    from neondoctor.triage.logscan import plan as planning
    from neondoctor.triage.logscan.anchors import remember_anchors, remembered_anchors

    started = time.perf_counter()
    raw, size, owned = open_log(source)
    readers: parallel.Readers | None = None
    progress = Progress(progress_stream, size) if progress_stream is not None else None
    # What exists now (modules, and below the matcher) lives through the scan: the cyclic collector
    # need not walk it again and again (~8 ms a scan), nor touch, and so copy, the readers' shared pages.
    gc.freeze()
    try:
        count = planning.processes(raw.fileno(), size, workers) if owned else 1
        guess = remembered_anchors(remember) if remember else None  # read once: to start early, and to rewrite it only when it changed

        finders: dict[tuple[bytes, ...], Finder] = {}

        def finder_for(anchors: Sequence[bytes]) -> Finder:
            if tuple(anchors) not in finders:
                finders[tuple(anchors)] = _finder(anchors, backend)
            return finders[tuple(anchors)]

        def fork_readers(anchors: Sequence[bytes], setup: bool, build: Callable[[], LineMatcher]) -> parallel.Readers:
            finder = finder_for(anchors)
            local = planning.dense(raw.fileno(), size or 0, count, finder)
            plan = planning.cut(raw.fileno(), size or 0, count, setup=setup, local=local, raw_ms=finder.ms_per_mb)
            job = parallel.Job(raw.fileno(), str(source), finder, chunk_size, max_line, build if local else None)
            return parallel.Readers(plan, job)

        if guess and count > 1 and callable(matcher):  # read while the matcher is built: checked below
            readers = fork_readers(guess, True, matcher)
        built: LineMatcher = matcher() if callable(matcher) else matcher
        gc.freeze()
        found = make_anchors(built.literals)
        # A condition without a literal cannot be pre-filtered: every line is a candidate then.
        unfiltered = not found or any(not cond.literals for book in built.runbooks for cond in book.conditions)
        if remember and found and found != guess:
            remember_anchors(remember, found)
        if readers is not None and (unfiltered or found != guess):
            readers.cancel()
            readers = None
        built.prepare()
        result = ScanResult(source=str(source))
        recorder = Recorder(built, not unfiltered, result)

        def read_here(start: int, end: int) -> Iterator[Block | Done]:
            return read_range(parallel.PreadFile(raw.fileno(), start), source, finder_for(found), chunk_size,
                              max_line, end - start)

        if count > 1 and not unfiltered:  # every line a candidate would flood the pipes: one process
            readers = readers or fork_readers(found, False, lambda: built)
            done = readers.run(recorder, progress, read_here)
        else:
            done = feed(read_range(raw, source, None if unfiltered else finder_for(found), chunk_size, max_line),
                         recorder, progress)
        result.lines, result.bytes, result.gzip, result.backend = done.lines, done.bytes, done.gzip, done.backend
    finally:
        gc.unfreeze()  # collected as usual again, once the scan is over
        if readers is not None:
            readers.cancel()
        if owned:
            raw.close()
        if progress:
            progress.finish()
    result.seconds = time.perf_counter() - started
    return result


def _finder(anchors: Sequence[bytes], backend: str | None) -> Finder:
    from neondoctor.triage.logscan.backends import make_finder

    return make_finder(anchors, backend)


def read_range(raw: BinaryIO, source: str | Path, finder: Finder | None, chunk_size: int | None, max_line: int,
               limit: int | None = None) -> Iterator[Block | Done]:
    """Stage 1 over a stream (a whole log, or with `limit` a range of one starting at a line): its
    blocks of candidates, then `Done`. Needs no matcher: forked readers run it (parallel.py)."""
    chunk_size = chunk_size or (finder.block_size if finder else READ_SIZE)
    extractor = Extractor(finder)
    try:
        reader = Reader(raw, str(source), chunk_size, limit)
        # One thread: the engines hold the GIL, so a reading thread ahead of the matcher only made
        # the two wait on each other (measured slower, gzip included).
        for buf, lo, hi, kind in blocks(reader.fill, chunk_size, max_line):
            yield extractor.block(buf, lo, hi, kind)._replace(consumed=reader.consumed)
    except OSError as exc:
        raise ConfigError(f"reading {source} failed: {exc.strerror or exc}") from None
    yield Done(extractor.lines, reader.produced, reader.gzip, finder.name if finder else "none (every line)")


def feed(items: Iterator[Block | Done], recorder: Recorder, progress: Progress | None = None) -> Done:
    """Stage 2 in this process: each block to the recorder; returns the `Done`."""
    for item in items:
        if isinstance(item, Done):
            return item
        recorder.feed(item)
        if progress:
            progress.update(item.consumed)
    raise AssertionError("read_range always ends with Done")


def scan_log(source: str | Path, runbooks_dirs: Sequence[str | Path] = (), *,
             progress_stream: TextIO | None = None) -> ScanResult:
    """`triage --log`: scan with the very runbooks and matcher single-error triage uses."""

    def build() -> LineMatcher:
        from neondoctor.triage.matcher import Matcher
        from neondoctor.triage.runbook import load_runbooks

        return Matcher(load_runbooks(list(runbooks_dirs)))

    key = "\0".join(os.fspath(d) for d in runbooks_dirs)
    return scan(source, build, progress_stream=progress_stream, remember=f"runbooks:{key}")
