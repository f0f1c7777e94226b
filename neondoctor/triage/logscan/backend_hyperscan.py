"""The fast pre-filter: one Hyperscan (Vectorscan) database of every anchor, scanned block by block.

Hyperscan finds all the anchors in one SIMD pass, ASCII-case-insensitively and without lower-casing
a copy of the block. Building the database takes ~20 ms, so it is cached on disk keyed on the anchors
themselves, the library's version and the machine, like the runbook cache.
"""

from __future__ import annotations

import hashlib
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hyperscan

from neondoctor.triage.logscan.anchors import minimal

_FORMAT = b"neondoctor-hs-literal-caseless-minimal-2"


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "neondoctor" / "scan"


def _cache_key(anchors: Sequence[bytes]) -> str:
    digest = hashlib.sha256(_FORMAT)
    for part in (hyperscan.__version__, platform.machine(), platform.system()):
        digest.update(b"\0" + part.encode())
    for anchor in anchors:
        digest.update(b"\0" + anchor)
    return digest.hexdigest()


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


def _write(path: Path, data: bytes) -> None:
    import tempfile  # only on a cache miss: start-up with a warm cache never pays for it

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs the ~20 ms build next time


def database(anchors: Sequence[bytes]) -> Any:
    """The compiled database for `anchors`, from the disk cache when it holds a working one."""
    path = _cache_dir() / f"{_cache_key(anchors)}.hsdb"
    try:
        db = hyperscan.loadb(path.read_bytes(), hyperscan.HS_MODE_BLOCK)
        if _works(db, anchors[0]):
            return db
    except Exception:  # missing, truncated, or built for another CPU: build it again
        pass
    # Anchors that contain another add no line (the shorter one finds it): fewer patterns, a faster pass.
    db = _compile(minimal(anchors))
    db.scratch = hyperscan.Scratch(db)
    _write(path, hyperscan.dumpb(db))
    return db


class HyperscanFinder:
    """Candidate lines from one Hyperscan pass over the block."""

    name = "hyperscan"
    block_size = 4 << 20  # one pass per block amortises the per-call cost; one buffer of 8 MiB in all

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
