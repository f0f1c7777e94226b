"""Which engine finds the candidate lines: Hyperscan when installed (`neondoctor[fast]`), else `re`.

Both search the same anchors for the same lines, and every candidate line goes through the full
matcher, so the choice changes speed only, never a result. NEONDOCTOR_SCAN_BACKEND=python|hyperscan
forces one (tests and benchmarks run both); `auto` (the default) takes the fastest that loads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol

from neondoctor.errors import ConfigError

ENV = "NEONDOCTOR_SCAN_BACKEND"
BACKENDS = ("hyperscan", "python")  # fastest first


class Finder(Protocol):
    name: str
    block_size: int  # bytes per read that suit this engine
    ms_per_mb: float  # what a block costs, read, searched and its lines counted (measured; balances the ranges)

    def lines(self, buf: bytes | bytearray, lo: int, hi: int) -> list[tuple[int, int]]:
        """(start, end) of every line of buf[lo:hi] that holds an anchor, in order; end is its newline or hi."""
        ...


def available() -> list[str]:
    """The backends that import on this machine (the engine is imported here, never at start-up)."""
    found = []
    for name in BACKENDS:
        try:
            _load(name)
        except ImportError:
            continue
        found.append(name)
    return found


def _load(name: str) -> type[Finder]:
    if name == "hyperscan":
        from neondoctor.triage.logscan.backend_hyperscan import HyperscanFinder

        return HyperscanFinder
    from neondoctor.triage.logscan.backend_python import PythonFinder

    return PythonFinder


def make_finder(anchors: Sequence[bytes], choice: str | None = None) -> Finder:
    """The finder for `anchors`: `choice`, else $NEONDOCTOR_SCAN_BACKEND, else the fastest that works."""
    choice = (choice or os.environ.get(ENV) or "auto").strip().lower()
    if choice not in ("auto", *BACKENDS):
        raise ConfigError(f"{ENV}={choice!r} is not a scan backend: use auto, {', '.join(BACKENDS)}")
    for name in BACKENDS if choice == "auto" else (choice,):
        try:
            return _load(name)(anchors)
        except ImportError:
            if choice != "auto":
                raise ConfigError(f"{ENV}={name}: the {name} package is not installed "
                                  "(pip install 'neondoctor[fast]')") from None
        except Exception as exc:  # e.g. a CPU without the instructions Hyperscan needs
            if name == "python":
                raise
            if choice != "auto":
                raise ConfigError(f"{ENV}={name}: the {name} engine cannot run here: {exc}") from None
    raise AssertionError("unreachable: the python backend always loads")
