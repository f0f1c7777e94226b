"""How a big plain log is cut for the processes that read it (parallel.py reads it so).

One process cannot go faster than its one core: the engine pass and the line count hold the GIL. So a
regular, uncompressed file of at least two `MIN_RANGE`s gets one process per CPU (at most
`MAX_WORKERS`; on Linux; unless asked for with `workers` or NEONDOCTOR_SCAN_WORKERS, only while this
process runs no other thread, so that fork is safe). Every cut is at a line that opens a new record
(not a continuation line, records.py): no record spans two pieces, so a piece's incidents add up with
the others'. The cut depends on who matches: this process matches every candidate line the readers
send (it reads a smaller range of its own, and the spare pieces at the end go to whoever is free
first), unless a sample of the file says the candidates are dense: then the ranges are equal and
each reader matches its own.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from typing import NamedTuple

from neondoctor.errors import ConfigError
from neondoctor.triage.logscan.backends import Finder
from neondoctor.triage.logscan.records import is_continuation
from neondoctor.triage.logscan.source import GZIP_MAGIC

ENV = "NEONDOCTOR_SCAN_WORKERS"
MIN_RANGE = 16 << 20  # bytes: below this a fork and a merge cost more than they save
MAX_WORKERS = 8
SEARCH = 1 << 20  # bytes after a cut point searched for a line that starts a record
# What balances the pieces (_targets), besides the finder's own cost per MB: matching's, and this
# process's set-up (measured here on a log with 0.1% error lines).
MATCH_MS_PER_MB = 0.3
SETUP_MS = 36.0
# Candidate lines a reader's range may hold (estimated from samples) and still be matched here: above,
# matching them (~20 µs each) would cost this process more than a matcher of the reader's own (~40 ms).
DENSE = 2000
SAMPLES, SAMPLE_MS = 4, 2.0  # the samples: this many, spread over the file, this long to search in all
SPARES = 4  # pieces at the end of the file that go to whichever process is free first

Range = tuple[int, int]


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


def processes(fd: int, size: int | None, workers: int | None = None) -> int:
    """How many processes should read the open regular file `fd`: 1 unless it is worth cutting and
    cutting is safe here. `workers` (or NEONDOCTOR_SCAN_WORKERS) asks for that many whatever its size."""
    asked = workers if workers is not None else requested_workers()
    if size is None or not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return 1
    if asked is None:
        # Chosen here: only when no other thread runs (one could hold a lock the child would need).
        # Asked for: the caller knows its process (the CLI runs no other thread).
        count = min(_cpus(), size // MIN_RANGE, MAX_WORKERS) if threading.active_count() == 1 else 1
    else:
        count = asked
    return 1 if count < 2 or os.pread(fd, 2, 0) == GZIP_MAGIC else count


def dense(fd: int, size: int, count: int, finder: Finder) -> bool:
    """Would a reader's range hold more than DENSE candidate lines? Estimated from a few samples of
    the file: then each reader matches its own range (matching them all here would be the bottleneck)."""
    found = sampled = 0
    each = max(1 << 14, int(SAMPLE_MS / finder.ms_per_mb * 1e6 / SAMPLES))
    for k in range(SAMPLES):
        data = os.pread(fd, each, size * k // SAMPLES)
        found += len(finder.lines(data, 0, len(data)))
        sampled += len(data)
    return found * size > DENSE * count * max(1, sampled)


class Plan(NamedTuple):
    """Who reads what, in file order: `own` here first, one range per reader, then the `spare` pieces,
    which go to whoever is free first: the last reader takes them from the front, this process from
    the back (a token each), so a set-up that ran slower or faster than estimated is evened out."""

    own: Range
    ranges: list[Range]
    spare: list[Range]


def cut(fd: int, size: int, count: int, *, setup: bool = False, local: bool = False, raw_ms: float = 2.0) -> Plan:
    """The file cut for `count` processes, each piece starting at a line that starts a record (pread:
    the file's position is left where it was).

    When this process matches every range's candidates (not `local`), and first builds its matcher
    (`setup`), its share is smaller, so that it ends when the readers do: half of it is its own range,
    the other half is expected from the spare pieces, as large as its whole share together."""
    if local:  # each process matches its own range: equal ranges
        targets, spares = [size * k // count for k in range(1, count)], 0
    else:
        share = _targets(size, count, setup, raw_ms)[0]
        own, spare = share // 2, share
        n = count - 1
        targets = [own + (size - spare - own) * k // n for k in range(n)]
        spares = SPARES
        targets += [size - spare + spare * k // spares for k in range(spares)]
    cuts = [0]
    for target in targets:
        found = _record_start_after(fd, target)
        if found is not None and cuts[-1] < found < size:
            cuts.append(found)
    cuts.append(size)
    pieces = list(itertools.pairwise(cuts))
    readers = min(count - 1, len(pieces) - 1)
    return Plan(pieces[0], pieces[1:1 + readers], pieces[1 + readers:])


def _targets(size: int, count: int, setup: bool, raw_ms: float) -> list[int]:
    """Where to cut (before moving to a record start): the readers' ranges C bytes each, this
    process's first range what is left, so both finish together. A reader spends RAW (the finder's
    `ms_per_mb`) per MB; this process RAW + MATCH per MB of its own range, MATCH per MB of the
    others' and SETUP first: RAW * C = SETUP + (RAW + MATCH) * (size - n * C) + MATCH * n * C gives
    C below. The costs are estimates (measured here on a log with 0.1% error lines): a wrong one only
    unbalances the work, never changes a result. Each range is at least 1/(4 * count) of the file."""
    n = count - 1
    lead = SETUP_MS / raw_ms * 1e6 if setup else 0.0
    reader = (lead + (1 + MATCH_MS_PER_MB / raw_ms) * size) / (n + 1)
    least = size / (4 * count)
    first = max(least, size - n * reader)
    step = (size - first) / n
    return [int(first + k * step) for k in range(n)]


def _record_start_after(fd: int, target: int) -> int | None:
    """Offset of the first whole line after `target` that starts a record (None: none within SEARCH).

    A small window first (a record start is usually a line or two away), the whole SEARCH if needed."""
    for size in (SEARCH >> 4, SEARCH):
        window = os.pread(fd, size, target)
        end = window.find(b"\n")  # the line `target` falls in is a partial one: skip it
        while end >= 0:
            start = end + 1
            end = window.find(b"\n", start)
            if end < 0:
                break  # the line is not whole in the window: it cannot be told here
            if not is_continuation(window[start:end]):
                return target + start
        if len(window) < size:
            return None  # the end of the file
    return None
