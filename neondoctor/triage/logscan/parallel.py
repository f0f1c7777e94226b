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
import select
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
MATCH_MS_PER_MB = 0.3
SETUP_MS = 36.0
PIPE_SIZE = 1 << 20  # a reader runs this far ahead of the matcher before it waits (Linux's default limit)
# Candidate lines a reader's range may hold (estimated from samples) and still be matched here: above,
# matching them (~35 µs each) would cost this process more than a matcher of the reader's own (~40 ms).
DENSE = 2000
SAMPLES, SAMPLE_MS = 4, 2.0  # the samples: this many, spread over the file, this long to search in all
SPARES = 4  # pieces at the end of the file that go to whichever process is free first
_FRAME = struct.Struct("<I")

Range = tuple[int, int]
Read = Callable[[int, int], Iterator[Block | Done]]  # (start, end) -> read_range's items, here


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


def plan(fd: int, size: int | None, workers: int | None = None, *, setup: bool = False,
         local: bool = False) -> list[Range]:
    """Every piece `cut` makes, in file order: [(0, size)] when `processes` says the file is not worth cutting."""
    count = processes(fd, size, workers)
    if count < 2 or size is None:
        return [(0, size or 0)]
    found = cut(fd, size, count, setup=setup, local=local)
    return [found.own, *found.ranges, *found.spare]


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
    range dense with candidates, matching them itself and sending its incidents); the last one then
    takes spare pieces while there are any left."""

    def __init__(self, plan: Plan, job: Job) -> None:
        self.plan = plan
        self.children: list[_Child] = []
        self.tokens: list[int] = []
        try:
            for _ in plan.spare:  # a token is one byte in a pipe: exactly one process reads it
                read_end, write_end = os.pipe()
                os.write(write_end, b"t")
                os.close(write_end)
                self.tokens.append(read_end)
            for i, part in enumerate(plan.ranges):
                read_end, write_end = os.pipe()
                try:
                    import fcntl

                    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
                except (ImportError, AttributeError, OSError):
                    pass  # the default size only makes the reader wait sooner
                spare = plan.spare if i == len(plan.ranges) - 1 else []
                pid = os.fork()
                if pid == 0:  # the child: read, send, leave without running the parent's exit code
                    os.close(read_end)
                    _child(write_end, part, spare, self.tokens, job)
                os.close(write_end)
                self.children.append(_Child(pid, read_end, part))
        except BaseException:
            self.cancel()
            raise

    def run(self, recorder: Recorder, progress: Progress | None, read: Read) -> Done:
        """Every piece's blocks to the recorder, in file order: this process's range, then (while the
        readers go on) spare pieces from the back, then the readers' ranges and the spare pieces the
        last one took, then those taken here. A range or piece whose child died is read here."""
        merge = _Merge(recorder, progress, read)
        merge.add(read(*self.plan.own), self.plan.own)
        taken: dict[int, list[Block | Done]] = {}
        for j in reversed(range(len(self.plan.spare))):
            self._pump(merge, wait=False)
            if not _take(self.tokens[j]):
                break
            taken[j] = list(read(*self.plan.spare[j]))
        self._pump(merge, wait=True)
        for j, piece in enumerate(self.plan.spare):
            if j not in merge.spare_done:  # taken here, or by a child that died before it
                merge.add(iter(taken[j]) if j in taken else read(*piece), piece)
        return merge.done()

    def _pump(self, merge: _Merge, wait: bool) -> None:
        """Feed what the children sent, in order; wait for all of it when `wait`."""
        while self.children:
            child = self.children[0]
            finished = merge.frames(child, self.plan.spare, wait)
            if not finished:
                return
            _reap(child.pid)
            os.close(child.fd)
            self.children.pop(0)

    def cancel(self) -> None:
        """Stop and reap every child left (an interrupted scan, or anchors that turned out stale)."""
        import signal

        for child in self.children:
            try:
                os.kill(child.pid, signal.SIGKILL)
            except OSError:
                pass
            _reap(child.pid)
            os.close(child.fd)
        self.children = []
        for fd in self.tokens:
            os.close(fd)
        self.tokens = []


class _Child:
    """A forked reader and its pipe, read as its frames arrive."""

    def __init__(self, pid: int, fd: int, part: Range) -> None:
        self.pid, self.fd, self.part = pid, fd, part
        self.buf = bytearray()
        self.eof = False
        self.started = False  # its frames began to be fed

    def frames(self, wait: bool) -> Iterator[tuple[str, Any]]:
        """The frames there are now (or, with `wait`, up to the child's end); a frame cut short ends them."""
        import pickle  # after the fork: the readers start without waiting for it

        while True:
            if len(self.buf) >= _FRAME.size:
                size = _FRAME.size + _FRAME.unpack_from(self.buf)[0]
                if len(self.buf) >= size:
                    data = bytes(self.buf[_FRAME.size:size])
                    del self.buf[:size]
                    try:
                        yield pickle.loads(data)
                    except Exception:
                        self.eof = True
                        return
                    continue
            if self.eof or not (wait or select.select([self.fd], [], [], 0)[0]):
                return
            data = os.read(self.fd, PIPE_SIZE)
            self.eof = not data
            self.buf += data


class _Merge:
    """The pieces' blocks to one recorder, in file order, with their lines numbered from the file's start."""

    def __init__(self, recorder: Recorder, progress: Progress | None, read: Read) -> None:
        self.recorder, self.progress, self.read = recorder, progress, read
        self.lines = self.size = self.consumed = 0
        self.gzip, self.backend = False, ""
        self.spare_done: set[int] = set()
        self.piece: Range | None = None  # the piece a child is sending now
        self.spare: int | None = None  # its index among the spare pieces (None: the child's own range)
        self.state: tuple[Any, ...] = ()

    def add(self, items: Iterator[Block | Done], piece: Range) -> None:
        """A whole piece read here."""
        for item in items:
            if isinstance(item, Done):
                self._finish(item, piece)
                return
            self._block(item)

    def frames(self, child: _Child, spare: list[Range], wait: bool) -> bool:
        """Feed the child's frames there are; True once it is finished (its end, or its death: the
        piece it was sending is then read here from the record state before it)."""
        if not child.started:
            child.started = True
            self._start(child.part, None)
        for kind, value in child.frames(wait):
            if kind == "block":
                self._block(value)
            elif kind in ("done", "matched"):
                if kind == "matched":  # the child matched its range itself
                    incidents, value = value
                    self.recorder.absorb(incidents, self.lines)
                self._finish(value, self.piece)  # type: ignore[arg-type]
                if self.spare is not None:
                    self.spare_done.add(self.spare)
                self.piece = None
            elif kind == "spare":
                self._start(spare[value], value)
            elif kind == "end":
                return True
            else:  # "error": the scan's error (a read that failed is not a scan that finished)
                raise ConfigError(value)
        if not child.eof:
            return False
        if self.piece is not None:  # the child died: this piece again, here
            self.recorder.restore(self.state)
            piece, self.piece = self.piece, None
            self.add(self.read(*piece), piece)
        return True

    def _start(self, piece: Range, spare: int | None) -> None:
        self.piece, self.spare, self.state = piece, spare, self.recorder.state()

    def _block(self, block: Block) -> None:
        self.recorder.feed(block, self.lines)
        if self.progress:
            self.progress.update(self.consumed + block.consumed)

    def _finish(self, done: Done, piece: Range) -> None:
        self.lines, self.size, self.consumed = self.lines + done.lines, self.size + done.bytes, \
            self.consumed + piece[1] - piece[0]
        self.gzip, self.backend = done.gzip, done.backend

    def done(self) -> Done:
        return Done(self.lines, self.size, self.gzip, self.backend)


def _take(token: int) -> bool:
    """Take a spare piece's token: True for exactly one process."""
    return os.read(token, 1) == b"t"


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _child(write_end: int, part: Range, spare: list[Range], tokens: list[int], job: Job) -> None:
    try:
        with os.fdopen(write_end, "wb") as pipe:
            try:
                _read_and_send(pipe, part, job)
                for j, piece in enumerate(spare):  # front first, while this process gets the token
                    if not _take(tokens[j]):
                        break
                    _send(pipe, ("spare", j))
                    _read_and_send(pipe, piece, job)
                _send(pipe, ("end", None))
            except ConfigError as exc:
                _send(pipe, ("error", exc.message))
    except BaseException:  # anything else: no "end" reaches the parent, which reads the piece itself
        pass
    finally:
        os._exit(0)


def _read_and_send(pipe: BinaryIO, part: Range, job: Job) -> None:
    from neondoctor.triage.logscan import read_range

    start, end = part
    items = read_range(PreadFile(job.fd, start), job.source, job.finder, job.chunk_size, job.max_line, end - start)
    if job.build is not None:
        _send(pipe, ("matched", _match_here(items, job.build)))
        return
    for item in items:
        _send(pipe, ("done" if isinstance(item, Done) else "block", item))


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
