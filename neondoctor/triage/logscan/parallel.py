"""A big plain log is cut into ranges scanned at once by forked processes, one per CPU.

One process cannot go faster than its one core: the engine pass, the line count and the matcher all
hold the GIL. So a regular, uncompressed file of at least two `MIN_RANGE`s is cut into one range per
CPU (at most `MAX_WORKERS`), each starting at a line that opens a new record (not a continuation
line, records.py): no record spans two ranges, so the incidents each range counts alone add up to
those of the whole file. The first range is scanned here, the others in forked children that send
their partial result back through a pipe; line numbers are offset when the parts are merged.

Only on Linux; unless asked for (`workers`, NEONDOCTOR_SCAN_WORKERS), only while this process runs no
other thread (fork is safe then). Gzip, stdin, small files and NEONDOCTOR_SCAN_WORKERS=1 are scanned
in one process. A child that dies has its
range scanned again here, so a scan is never reported complete without every range.
"""

from __future__ import annotations

import itertools
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable

from neondoctor.errors import ConfigError
from neondoctor.triage.logscan.model import Incident, ScanResult
from neondoctor.triage.logscan.records import is_continuation
from neondoctor.triage.logscan.source import GZIP_MAGIC

ENV = "NEONDOCTOR_SCAN_WORKERS"
MIN_RANGE = 16 << 20  # bytes: below this a fork and a merge cost more than they save
MAX_WORKERS = 8
SEARCH = 1 << 20  # bytes after a cut point searched for a line that starts a record

Range = tuple[int, int]
ScanRange = Callable[[int, int, bool], ScanResult]  # (start, end, is the first range) -> its result


def requested_workers() -> int | None:
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{ENV} must be a whole number of processes (1 or more), got {raw!r}")
    return int(raw)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def plan(fd: int, size: int | None, workers: int | None = None) -> list[Range]:
    """The ranges of the open regular file `fd` to scan: [(0, size)] unless the file is worth cutting
    and cutting is safe here. Reads with pread: the file's position is left where it was.

    `workers` (or NEONDOCTOR_SCAN_WORKERS) asks for that many ranges whatever the file's size."""
    asked = workers if workers is not None else requested_workers()
    if size is None or not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return [(0, size or 0)]
    if asked is None:
        # Chosen here: only when no other thread runs (one could hold a lock the child would need).
        # Asked for: the caller knows its process (the CLI runs no other thread).
        count = min(_cpus(), size // MIN_RANGE, MAX_WORKERS) if threading.active_count() == 1 else 1
    else:
        count = asked
    if count < 2 or os.pread(fd, 2, 0) == GZIP_MAGIC:
        return [(0, size)]
    cuts = [0]
    for k in range(1, count):
        cut = _record_start_after(fd, size * k // count)
        if cut is not None and cuts[-1] < cut < size:
            cuts.append(cut)
    cuts.append(size)
    return list(itertools.pairwise(cuts))


def _record_start_after(fd: int, target: int) -> int | None:
    """Offset of the first whole line after `target` that starts a record (None: none near)."""
    window = os.pread(fd, SEARCH, target)
    end = window.find(b"\n")  # the line `target` falls in is a partial one: skip it
    while end >= 0:
        start = end + 1
        end = window.find(b"\n", start)
        if end < 0:
            return None  # the line is not whole in the window: it cannot be told
        if not is_continuation(window[start:end]):
            return target + start
    return None


def run(ranges: list[Range], scan_range: ScanRange) -> ScanResult:
    """Scan ranges[1:] in forked children and ranges[0] here; merge the parts in order."""
    children: list[tuple[int, int, Range]] = []
    try:
        for part in ranges[1:]:
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: scan, send the result, leave without running the parent's exit code
                os.close(read_end)
                _child(write_end, part, scan_range)
            os.close(write_end)
            children.append((pid, read_end, part))
        parts = [scan_range(*ranges[0], True)]
        while children:
            parts.append(_collect(*children[0], scan_range))
            children.pop(0)  # reaped: no longer the finally's business
        return merge(parts)
    finally:
        for pid, read_end, _ in children:  # interrupted: no child outlives the scan
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                os.close(read_end)
            except OSError:
                pass


def _child(write_end: int, part: Range, scan_range: ScanRange) -> None:
    try:
        try:
            payload = pickle.dumps(("ok", scan_range(*part, False)))
        except ConfigError as exc:
            payload = pickle.dumps(("error", exc.message))
        except BaseException as exc:  # anything else: the parent scans this range itself
            payload = pickle.dumps(("failed", type(exc).__name__))
        with os.fdopen(write_end, "wb") as fh:
            fh.write(payload)
    finally:
        os._exit(0)


def _collect(pid: int, read_end: int, part: Range, scan_range: ScanRange) -> ScanResult:
    with os.fdopen(read_end, "rb") as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    try:
        status, value = pickle.loads(data)
    except Exception:  # the child died before it finished writing
        status, value = "failed", None
    if status == "error":
        raise ConfigError(value)
    if status == "ok" and isinstance(value, ScanResult):
        return value
    return scan_range(*part, False)


def merge(parts: list[ScanResult]) -> ScanResult:
    """One result from the ranges' results, in file order: line numbers offset, counts added."""
    merged = ScanResult(source=parts[0].source, gzip=parts[0].gzip, backend=parts[0].backend)
    for part in parts:
        offset = merged.lines
        for runbook, inc in part.incidents.items():
            have = merged.incidents.get(runbook)
            if have is None:
                merged.incidents[runbook] = Incident(runbook, inc.count, inc.first_line + offset,
                                                     inc.last_line + offset, inc.first_seen, inc.last_seen,
                                                     inc.sample)
                continue
            have.count += inc.count
            have.last_line = inc.last_line + offset
            have.first_seen = have.first_seen or inc.first_seen
            have.last_seen = inc.last_seen or have.last_seen
        merged.lines += part.lines
        merged.bytes += part.bytes
    return merged
