"""The fast pre-filter: one Hyperscan (Vectorscan) database of every anchor, scanned block by block.

Hyperscan finds all the anchors in one SIMD pass, ASCII-case-insensitively and without lower-casing
a copy of the block. Building the database takes ~20 ms, so it is cached on disk keyed on the anchors
themselves, the library's version and the machine, like the runbook cache.
"""

from __future__ import annotations

import marshal
import platform
import zlib
from collections.abc import Sequence
from typing import Any

import hyperscan

from neondoctor.triage.logscan.anchors import cache_dir, minimal, write_cache

_FORMAT = b"neondoctor-hs-literal-caseless-minimal-3"


def _cache_key(anchors: Sequence[bytes]) -> tuple[Any, ...]:
    """Everything the compiled database depends on; stored in the cache file and compared on load."""
    return _FORMAT, hyperscan.__version__, platform.machine(), platform.system(), tuple(anchors)


def _compile(anchors: Sequence[bytes]) -> Any:
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=list(anchors), ids=list(range(len(anchors))), elements=len(anchors),
               flags=[hyperscan.HS_FLAG_CASELESS] * len(anchors), literal=True)
    return db


def _works(db: Any, probe: bytes) -> bool:
    """A database loaded from disk must still find its first anchor (else it is rebuilt)."""
    db.scratch = hyperscan.Scratch(db)
    hits: list[int] = []
    db.scan(b"\n" + probe.upper() + b"\n", match_event_handler=lambda _i, _f, to, _fl, _c: hits.append(to))
    return bool(hits)


def database(anchors: Sequence[bytes]) -> Any:
    """The compiled database for `anchors`, from the disk cache when it holds a working one.

    The file is named by a checksum of its key and holds the key itself, compared whole on load, so
    a checksum that collides is only a miss (and start-up needs no hashlib)."""
    key = _cache_key(anchors)
    path = cache_dir() / f"{zlib.crc32(marshal.dumps(key)):08x}.hsdb"
    try:
        stored_key, data = marshal.loads(path.read_bytes())
        if stored_key == key:
            db = hyperscan.loadb(data, hyperscan.HS_MODE_BLOCK)
            if _works(db, anchors[0]):
                return db
    except Exception:  # missing, truncated, or built for another CPU: build it again
        pass
    # Anchors that contain another add no line (the shorter one finds it): fewer patterns, a faster pass.
    db = _compile(minimal(anchors))
    db.scratch = hyperscan.Scratch(db)
    write_cache(path, marshal.dumps((key, hyperscan.dumpb(db))))
    return db


class HyperscanFinder:
    """Candidate lines from one Hyperscan pass over the block."""

    name = "hyperscan"
    block_size = 4 << 20  # one pass per block amortises the per-call cost; one buffer of 8 MiB in all
    ms_per_mb = 2.0

    def __init__(self, anchors: Sequence[bytes]) -> None:
        self.db = database(anchors)

    def lines(self, buf: bytes | bytearray, lo: int, hi: int) -> list[tuple[int, int]]:
        """(start, end) of every line of buf[lo:hi] holding an anchor; end is its newline (or hi)."""
        ends: list[int] = []
        with memoryview(buf) as view, view[lo:hi] as block:
            self.db.scan(block, match_event_handler=lambda _i, _f, to, _fl, _c: ends.append(to))
        ends.sort()  # already in order of end offset; this keeps the mapping below simple if not
        out: list[tuple[int, int]] = []
        line_end = -1
        for to in ends:
            pos = lo + to
            if pos <= line_end:  # another anchor on the same line
                continue
            newline = buf.rfind(b"\n", lo, pos)
            start = newline + 1 if newline >= 0 else lo
            line_end = buf.find(b"\n", pos, hi)
            if line_end < 0:
                line_end = hi
            out.append((start, line_end))
        return out
