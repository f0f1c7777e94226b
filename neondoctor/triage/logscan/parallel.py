"""A big plain log read at once by forked processes, as plan.py cuts it.

Each forked child reads its range: the finder and the line count (stage 1, `records.Extractor`, no
matcher), and streams its blocks of candidate lines back through a pipe; this process matches them in
file order with one `records.Recorder` (stage 2), so the result is the one a single reader gives. The
readers need only the finder, so they start before this process has built its matcher (`scan` forks
them with the anchors the last scan of the same runbooks used and discards them if the new matcher's
differ). This process reads a range of its own, then takes spare pieces from the end of the file
while the last reader takes them from the front: a one-byte token each, read by exactly one process.
A range dense with candidates is matched by its reader, which sends its incidents instead.

A child that dies has its piece read again here, from the record state before it, so a scan is never
reported complete without every piece; a child's read error is the scan's error.
"""

from __future__ import annotations

import os
import select
import struct
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, NamedTuple

from neondoctor.errors import ConfigError
from neondoctor.triage.logscan.backends import Finder
from neondoctor.triage.logscan.model import Incident, ScanResult
from neondoctor.triage.logscan.plan import Plan, Range
from neondoctor.triage.logscan.progress import Progress
from neondoctor.triage.logscan.records import Block, Done, LineMatcher, Recorder

PIPE_SIZE = 1 << 20  # a reader runs this far ahead of the matcher before it waits (Linux's default limit)
_FRAME = struct.Struct("<I")

Read = Callable[[int, int], Iterator[Block | Done]]  # (start, end) -> read_range's items, here


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
    from neondoctor.triage.logscan import feed

    result = ScanResult(source="")
    done = feed(items, Recorder(build(), True, result))
    return result.incidents, done


def _send(pipe: BinaryIO, item: tuple[str, Any]) -> None:
    import pickle

    data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(_FRAME.pack(len(data)) + data)
