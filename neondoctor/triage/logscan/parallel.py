"""A big plain log is cut into ranges read at once by forked processes, one per CPU.

One process cannot go faster than its one core: the engine pass and the line count hold the GIL. So a
regular, uncompressed file of at least two `MIN_RANGE`s is cut into one range per CPU (at most
`MAX_WORKERS`), each starting at a line that opens a new record (not a continuation line,
records.py), and a forked child reads each range: the finder and the line count (stage 1,
`records.Extractor`, no matcher). It streams its blocks of candidate lines back through a pipe, and
this process matches them in file order with one `records.Recorder` (stage 2), so the result is the
one a single reader gives. The readers need only the anchors, so they can start before this process
has built its matcher: `scan` forks them with the anchors the last scan with the same runbooks used
and discards them if the new matcher's differ.

Only on Linux; unless asked for (`workers`, NEONDOCTOR_SCAN_WORKERS), only while this process runs no
other thread (fork is safe then). Gzip, stdin, small files and NEONDOCTOR_SCAN_WORKERS=1 are read in
one process. A child that dies has its range read again here, from the record state before it, so a
scan is never reported complete without every range; a child's read error is the scan's error.
"""

from __future__ import annotations

import itertools
import os
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, NamedTuple

from neondoctor.errors import ConfigError
from neondoctor.triage.logscan.backends import Finder
from neondoctor.triage.logscan.model import Incident, ScanResult
from neondoctor.triage.logscan.progress import Progress
from neondoctor.triage.logscan.records import Block, Done, LineMatcher, Recorder, is_continuation
from neondoctor.triage.logscan.source import GZIP_MAGIC

ENV = "NEONDOCTOR_SCAN_WORKERS"
MIN_RANGE = 16 << 20  # bytes: below this a fork and a merge cost more than they save
MAX_WORKERS = 8
SEARCH = 1 << 20  # bytes after a cut point searched for a line that starts a record
# What balances the ranges (_targets), besides the finder's own cost per MB: matching's, and this process's set-up.
MATCH_MS_PER_MB = 0.5
SETUP_MS = 36.0
PIPE_SIZE = 1 << 20  # a reader runs this far ahead of the matcher before it waits (Linux's default limit)
# Candidate lines a reader's range may hold (estimated from samples) and still be matched here: above,
# matching them (~35 µs each) would cost this process more than a matcher of the reader's own (~40 ms).
DENSE = 2000
SAMPLES, SAMPLE_MS = 4, 2.0  # the samples: this many, spread over the file, this long to search in all
_FRAME = struct.Struct("<I")

Range = tuple[int, int]
ReadHere = Callable[[int, int, int, int], Done]  # (start, end, first line's base, bytes done before) -> Done


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


def cut(fd: int, size: int, count: int, *, setup: bool = False, local: bool = False, raw_ms: float = 2.0
        ) -> list[Range]:
    """`count` ranges of the file, each starting at a line that starts a record (pread: the file's
    position is left where it was); the first is this process's.

    When this process matches every range's candidates (not `local`), and first builds its matcher
    (`setup`), its own range is smaller, so that it ends when the readers do."""
    cuts = [0]
    targets = [size * k // count for k in range(1, count)] if local else _targets(size, count, setup, raw_ms)
    for target in targets:
        found = _record_start_after(fd, target)
        if found is not None and cuts[-1] < found < size:
            cuts.append(found)
    cuts.append(size)
    return list(itertools.pairwise(cuts))


def plan(fd: int, size: int | None, workers: int | None = None, *, setup: bool = False,
         local: bool = False) -> list[Range]:
    """The ranges to read: [(0, size)], or those of `cut` when `processes` says the file is worth cutting."""
    count = processes(fd, size, workers)
    return [(0, size or 0)] if count < 2 or size is None else cut(fd, size, count, setup=setup, local=local)


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


class PreadFile:
    """A read-only view of an open file from an offset, with its own position (os.pread): the
    descriptor is shared with the parent process, its offset must not be."""

    def __init__(self, fd: int, start: int) -> None:
        self.fd, self.pos = fd, start

    def read(self, size: int) -> bytes:
        data = os.pread(self.fd, size, self.pos)
        self.pos += len(data)
        return data

    def readinto(self, view: memoryview) -> int:
        got = os.preadv(self.fd, [view], self.pos)
        self.pos += got
        return got


class Job(NamedTuple):
    """What every reader needs: the open file, the finder, and whether it matches its range itself."""

    fd: int
    source: str
    finder: Finder
    chunk_size: int | None
    max_line: int
    build: Callable[[], LineMatcher] | None  # a matcher of its own, for a range dense with candidates (local)


class Readers:
    """One forked child per range, each streaming `read_range`'s blocks back through a pipe (or, for a
    range dense with candidates, matching them itself and sending its incidents)."""

    def __init__(self, ranges: list[Range], job: Job) -> None:
        self.children: list[tuple[int, int, Range]] = []
        try:
            for part in ranges:
                read_end, write_end = os.pipe()
                try:
                    import fcntl

                    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
                except (ImportError, AttributeError, OSError):
                    pass  # the default size only makes the reader wait sooner
                pid = os.fork()
                if pid == 0:  # the child: read, send, leave without running the parent's exit code
                    os.close(read_end)
                    _child(write_end, part, job)
                os.close(write_end)
                self.children.append((pid, read_end, part))
        except BaseException:
            self.cancel()
            raise

    def feed(self, recorder: Recorder, progress: Progress | None, read_here: ReadHere, before: Done,
             consumed: int) -> Done:
        """Every range's blocks to the recorder, in file order, after `before` (what this process read
        of the file's first `consumed` bytes); a range whose child died is read here."""
        lines, size = before.lines, before.bytes
        gzip, backend = before.gzip, before.backend
        while self.children:
            pid, read_end, (start, end) = self.children[0]
            state = recorder.state()
            done = None
            with os.fdopen(read_end, "rb") as pipe:
                self.children[0] = (pid, -1, (start, end))  # the pipe is closed by the with-block
                for kind, value in _frames(pipe):
                    if kind == "block":
                        recorder.feed(value, lines)
                        if progress:
                            progress.update(consumed + value.consumed)
                    elif kind == "done":
                        done = value
                        break
                    elif kind == "matched":  # the child matched its range itself
                        incidents, done = value
                        recorder.absorb(incidents, lines)
                        break
                    else:  # "error": the scan's error (a read that failed is not a scan that finished)
                        raise ConfigError(value)
            _reap(pid)
            self.children.pop(0)
            if done is None:  # the child died: its range again, here, from the state before it
                recorder.restore(state)
                done = read_here(start, end, lines, consumed)
            lines, size, consumed = lines + done.lines, size + done.bytes, consumed + (end - start)
            gzip, backend = done.gzip, done.backend
        return Done(lines, size, gzip, backend)

    def cancel(self) -> None:
        """Stop and reap every child left (an interrupted scan, or anchors that turned out stale)."""
        import signal

        for pid, read_end, _ in self.children:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            _reap(pid)
            if read_end >= 0:
                os.close(read_end)
        self.children = []


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _child(write_end: int, part: Range, job: Job) -> None:
    try:
        with os.fdopen(write_end, "wb") as pipe:
            try:
                from neondoctor.triage.logscan import read_range

                start, end = part
                items = read_range(PreadFile(job.fd, start), job.source, job.finder, job.chunk_size, job.max_line,
                                   end - start)
                if job.build is not None:
                    _send(pipe, ("matched", _match_here(items, job.build)))
                    return
                for item in items:
                    _send(pipe, ("done" if isinstance(item, Done) else "block", item))
            except ConfigError as exc:
                _send(pipe, ("error", exc.message))
    except BaseException:  # anything else: no "done" reaches the parent, which reads the range itself
        pass
    finally:
        os._exit(0)


def _match_here(items: Iterator[Block | Done], build: Callable[[], LineMatcher]
                ) -> tuple[dict[str, Incident], Done]:
    """A range dense with candidates is matched where it is read, with a matcher of this process's
    own. The range starts a record, so its incidents add up with the others' (Recorder.absorb)."""
    result = ScanResult(source="")
    recorder = Recorder(build(), True, result)
    for item in items:
        if isinstance(item, Done):
            return result.incidents, item
        recorder.feed(item)
    raise AssertionError("read_range always ends with Done")


def _send(pipe: BinaryIO, item: tuple[str, Any]) -> None:
    import pickle

    data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(_FRAME.pack(len(data)) + data)


def _frames(pipe: BinaryIO) -> Any:
    """The (kind, value) items a child sent; stops at a frame cut short (the child died writing it)."""
    import pickle  # after the fork: the readers start without waiting for it

    while True:
        head = pipe.read(_FRAME.size)
        if len(head) < _FRAME.size:
            return
        data = pipe.read(_FRAME.unpack(head)[0])
        try:
            yield pickle.loads(data)
        except Exception:
            return
