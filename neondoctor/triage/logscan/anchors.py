"""The byte strings the pre-filter looks for, derived from the matcher's literals.

Every backend searches the same anchors, ASCII-case-insensitively, so they find the same candidate
lines by construction. A line holding none of them cannot match any condition: each condition has
a literal that occurs, in lower case, in any text it matches.

A literal made only of ASCII and of characters without case (CJK, digits, punctuation) is its own
anchor. A non-ASCII letter with case (é, д) is not folded by a byte-level ASCII-caseless search,
so such a literal is anchored on its longest run of case-free characters when that run is long
enough (`échouée` -> `chou`), else on its lower, upper, capitalised and title-case spellings.
Non-ASCII anchors also get their JSON-escaped spelling (`\\u00e9`), as JSON loggers write them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

MIN_RUN = 4  # bytes: a shorter case-free run would make too many lines candidates


def _case_free(char: str) -> bool:
    # ASCII letters are folded by every backend; other characters only when they have no case.
    return char.isascii() or char.lower() == char == char.upper()


def _spellings(literal: str) -> set[str]:
    if literal.isascii():
        return {literal}
    runs, run = [], ""
    for char in literal:
        if _case_free(char):
            run += char
        else:
            runs.append(run)
            run = ""
    runs.append(run)
    best = max(runs, key=lambda r: len(r.encode("utf-8")))
    if best == literal or len(best.strip().encode("utf-8")) >= MIN_RUN:
        return {best}
    return {literal, literal.upper(), literal.capitalize(), literal.title()}


def anchors(literals: Iterable[str]) -> tuple[bytes, ...]:
    """Sorted, distinct anchors (ASCII letters in lower case) for the matcher's literals.

    Empty when some literal gives no usable anchor: then every line is a candidate.
    """
    out: set[bytes] = set()
    for literal in literals:
        # an anchor never spans lines: the scan maps each hit to the line around it
        piece = max(literal.lower().split("\n"), key=len)
        spellings = [s for s in _spellings(piece) if s.strip()]
        if not spellings:
            return ()
        for spelling in spellings:
            out.add(spelling.encode("utf-8").lower())
            if not spelling.isascii():
                out.add(json.dumps(spelling)[1:-1].encode("ascii").lower())
    return tuple(sorted(out))


def minimal(found: Iterable[bytes]) -> tuple[bytes, ...]:
    """Without the anchors that contain another one (those lines are found anyway)."""
    items = sorted(set(found), key=len)
    kept: list[bytes] = []
    for anchor in items:
        if not any(short in anchor for short in kept):
            kept.append(anchor)
    return tuple(sorted(kept))


def cache_dir() -> Path:
    """Where the scan keeps what it derives from the runbooks (compiled databases, the last anchors)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "neondoctor" / "scan"


def write_cache(path: Path, data: bytes) -> None:
    """Write a cache file whole or not at all; a read-only home only costs speed."""
    import tempfile  # only on a cache miss: start-up with a warm cache never pays for it

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        pass


def _remembered_path(key: str) -> Path:
    import zlib

    return cache_dir() / f"anchors-{zlib.crc32(key.encode('utf-8', 'surrogateescape')):08x}.marshal"


def remembered_anchors(key: str) -> tuple[bytes, ...] | None:
    """The anchors the last scan keyed `key` used: a guess, to start reading before the matcher is
    built. The caller compares it with the matcher's own anchors, so a stale guess costs only time."""
    import marshal

    try:
        found = marshal.loads(_remembered_path(key).read_bytes())
    except Exception:  # none yet, or unreadable: no guess
        return None
    if isinstance(found, tuple) and found and all(isinstance(a, bytes) for a in found):
        return found
    return None


def remember_anchors(key: str, found: Sequence[bytes]) -> None:
    import marshal

    write_cache(_remembered_path(key), marshal.dumps(tuple(found)))
