"""Read a log as blocks of whole lines: plain or gzip (by magic bytes), file or stdin, bounded memory.

One buffer is reused for the whole file (`readinto`, no copy per chunk for a plain file), so memory
is flat in file size. A line longer than `max_line` is handed over in pieces, each tagged with the
one line number it belongs to. A gzip stream that ends before its end marker (a truncated file, an
interrupted copy) or holds data that is not gzip after a member is an error: the scan of a file
that was not read to its end must not be reported as complete.
"""

from __future__ import annotations

import os
import sys
import zlib
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import BinaryIO

from neondoctor.errors import ConfigError

READ_SIZE = 4 << 20  # bytes per read when the backend states none (every line a candidate)
MAX_LINE = 4 << 20  # a longer line is scanned in pieces of this size, so memory stays bounded
GZIP_MAGIC = b"\x1f\x8b"


class Kind(Enum):
    LINES = "lines"  # whole lines, each ending with a newline
    PIECE = "piece"  # part of a line longer than max_line; more of it follows
    LAST_PIECE = "last_piece"  # the end of such a line (or a last line without a newline)


def open_log(source: str | Path) -> tuple[BinaryIO, int | None, bool]:
    """(stream, size if known, whether we own the stream)."""
    if str(source) == "-":
        return sys.stdin.buffer, None, False
    from neondoctor.inputs import open_regular

    handle = open_regular(source, "log file", buffering=0)  # a FIFO or a device would never end
    try:
        size: int | None = os.fstat(handle.fileno()).st_size
    except OSError:
        size = None
    return handle, size, True


class Reader:
    """`fill(view)` puts the next uncompressed bytes of the log into `view`; 0 means the end."""

    def __init__(self, raw: BinaryIO, source: str, read_size: int = READ_SIZE, limit: int | None = None) -> None:
        self.raw, self.source, self.read_size = raw, source, read_size
        self.limit = limit  # bytes to read from the stream's position (a range of a plain file); None: all
        self.consumed = 0  # bytes read from the stream (compressed ones for gzip): for the progress bar
        self.produced = 0  # uncompressed bytes handed over
        self.pending = raw.read(2 if limit is None else min(2, limit))  # enough to tell gzip from text
        self.consumed += len(self.pending)
        self.gzip = self.pending[:2] == GZIP_MAGIC
        self.fill: Callable[[memoryview], int] = self._fill_gzip if self.gzip else self._fill_plain
        self._inflated = b""  # uncompressed bytes not yet handed over
        self._unzip: Iterator[bytes] = self._gunzip()

    def _fill_plain(self, view: memoryview) -> int:
        n = 0
        if self.pending:
            n = len(self.pending)
            view[:n] = self.pending
            self.pending = b""
        want = min(len(view), self.read_size)
        if self.limit is not None:
            want = min(want, n + self.limit - self.consumed)
        while n < want:
            got = self.raw.readinto(view[n:want])  # type: ignore[attr-defined]
            if not got:
                break
            n += got
            self.consumed += got
        self.produced += n
        return n

    def _fill_gzip(self, view: memoryview) -> int:
        n, want = 0, min(len(view), self.read_size)
        while n < want:
            if not self._inflated:
                self._inflated = next(self._unzip, b"")
                if not self._inflated:
                    break
            take = min(want - n, len(self._inflated))
            view[n:n + take] = self._inflated[:take]
            self._inflated = self._inflated[take:]
            n += take
        self.produced += n
        return n

    def _read(self) -> bytes:
        data = self.raw.read(self.read_size)
        self.consumed += len(data)
        return data

    def _gunzip(self) -> Iterator[bytes]:
        """Every member of a (concatenated) gzip stream; zero padding at the end is ignored, as gzip does."""
        inflater: zlib._Decompress | None = None  # None: between members
        data, offset = self.pending, 0  # offset: compressed bytes before `data`, for messages
        self.pending = b""
        while True:
            if not data:
                data = self._read()
                if not data:
                    break
            if inflater is None:
                if len(data) < 2 and (more := self._read()):  # a header split across two reads
                    data += more
                    continue
                if data[:2] != GZIP_MAGIC:
                    if data.count(0) == len(data):
                        offset, data = offset + len(data), b""
                        continue
                    raise ConfigError(f"{self.source}: data that is not gzip follows the gzip stream at byte "
                                      f"{offset:,} (`gzip -t` fails on it too); not scanned as complete")
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                out = inflater.decompress(data, self.read_size)
            except zlib.error as exc:
                raise ConfigError(f"{self.source} looks gzip-compressed but is corrupt: {exc}") from None
            rest = inflater.unconsumed_tail
            offset += len(data) - len(rest)
            data = rest
            if out:
                yield out
            if inflater.eof:  # the member ended: another may follow (`cat a.gz b.gz`, logrotate)
                offset -= len(inflater.unused_data)
                data = inflater.unused_data + data
                inflater = None
        if inflater is not None:
            raise ConfigError(f"{self.source} is a truncated gzip file: its data ends after {offset:,} compressed "
                              "bytes, before the end of the stream (`gzip -t` fails on it too); "
                              "not scanned as complete")


def blocks(fill: Callable[[memoryview], int], read_size: int = READ_SIZE, max_line: int = MAX_LINE
           ) -> Iterator[tuple[bytearray, int, int, Kind]]:
    """(buffer, lo, hi, kind): buffer[lo:hi] is valid until the next item is asked for (one buffer,
    reused for the whole log)."""
    buf = bytearray(read_size + max_line + 1)
    keep, filled = 0, 0  # buf[keep:filled]: read, not handed over yet (a partial line)
    handed = False  # part of buf was handed over: the partial line moves to the front first
    in_long = False  # inside a line whose beginning was already handed over as pieces
    while True:
        if handed or keep:
            buf[:filled - keep] = buf[keep:filled]  # the partial line to the front (a slice copy)
            filled, keep, handed = filled - keep, 0, False
        with memoryview(buf) as view:
            got = fill(view[filled:filled + read_size])
        filled += got
        start = 0
        if in_long:
            newline = buf.find(b"\n", 0, filled)
            if newline < 0:
                if not got or filled >= max_line:
                    yield buf, 0, filled, Kind.LAST_PIECE if not got else Kind.PIECE
                    if not got:
                        return
                    keep, handed = filled, True
                continue
            yield buf, 0, newline, Kind.LAST_PIECE
            start, in_long, handed = newline + 1, False, True
        cut = buf.rfind(b"\n", start, filled) + 1
        if cut > start:
            yield buf, start, cut, Kind.LINES
            handed = True
        else:
            cut = start
        if not got:
            if filled > cut:
                yield buf, cut, filled, Kind.LAST_PIECE
            return
        if filled - cut >= max_line:  # a line longer than max_line starts here
            yield buf, cut, filled, Kind.PIECE
            in_long, cut, handed = True, filled, True
        keep = cut
