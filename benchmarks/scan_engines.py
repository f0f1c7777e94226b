"""Which multi-literal engine should find the candidate lines of `triage --log`? Measured, not guessed.

Each engine searches the matcher's literals case-insensitively over the same synthetic log in 8 MB
blocks of whole lines and maps every hit back to its line; all must find the same candidate lines.
The engines other than Hyperscan are not dependencies: uv brings them for this run only.

    uv run --with ahocorasick-rs --with pyahocorasick --with google-re2 python benchmarks/scan_engines.py [--mb 200]
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from _lab import header
from log_scan import extra_runbooks, make_log

from neondoctor.triage.matcher import Matcher
from neondoctor.triage.runbook import load_runbooks

BLOCK = 8 << 20
Scan = Callable[[bytes], set[int]]


def blocks(path: Path) -> Iterator[bytes]:
    carry = b""
    with path.open("rb", buffering=0) as fh:
        while chunk := fh.read(BLOCK):
            buf = carry + chunk
            cut = buf.rfind(b"\n") + 1
            yield buf[:cut]
            carry = buf[cut:]
    if carry:
        yield carry + b"\n"


def starts(block: bytes, ends: list[int]) -> set[int]:
    return {block.rfind(b"\n", 0, end) + 1 for end in ends}


def hyperscan_engine(lits: list[bytes]) -> Scan:
    import hyperscan

    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=lits, ids=list(range(len(lits))), elements=len(lits),
               flags=[hyperscan.HS_FLAG_CASELESS] * len(lits), literal=True)

    def scan(block: bytes) -> set[int]:
        ends: list[int] = []
        db.scan(block, match_event_handler=lambda _i, _f, to, _fl, _c: ends.append(to))
        return starts(block, ends)
    return scan


def ahocorasick_rs_engine(lits: list[bytes]) -> Scan:
    import ahocorasick_rs

    ac = ahocorasick_rs.BytesAhoCorasick(lits, implementation=ahocorasick_rs.Implementation.DFA)
    return lambda block: starts(block, [e for _, _, e in ac.find_matches_as_indexes(block.lower())])


def pyahocorasick_engine(lits: list[bytes]) -> Scan:
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for i, lit in enumerate(lits):
        automaton.add_word(lit.decode("latin-1"), i)  # the PyPI build is str-only: bytes as latin-1
    automaton.make_automaton()

    def scan(block: bytes) -> set[int]:
        text = block.lower().decode("latin-1")
        return {text.rfind("\n", 0, end) + 1 for end, _ in automaton.iter(text)}
    return scan


def re2_engine(lits: list[bytes]) -> Scan:
    import re2

    pattern = re2.compile(b"(?i)(?:" + b"|".join(re.escape(lit) for lit in lits) + b")")

    def scan(block: bytes) -> set[int]:
        found, pos = set(), 0
        while hit := pattern.search(block, pos):
            found.add(block.rfind(b"\n", 0, hit.start()) + 1)
            pos = block.find(b"\n", hit.end()) + 1
            if pos == 0:
                break
        return found
    return scan


ENGINES = {"hyperscan": hyperscan_engine, "ahocorasick-rs (DFA)": ahocorasick_rs_engine,
           "pyahocorasick": pyahocorasick_engine, "google-re2": re2_engine}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--extra-literals", type=int, default=480)
    opts = parser.parse_args()
    header(f"scan engines: {opts.mb} MB log, 8 MB blocks, case-insensitive literals")
    with tempfile.TemporaryDirectory(prefix="neondoctor-engines-", dir="/tmp") as tmp:
        log = Path(tmp) / "app.log"
        make_log(log, opts.mb)
        books = Path(tmp) / "books"
        books.mkdir()
        extra_runbooks(books, opts.extra_literals)
        for label, dirs in (("shipped runbooks", []), (f"+{opts.extra_literals} translated", [books])):
            lits = sorted({lit.lower().encode() for lit in Matcher(load_runbooks(dirs)).literals})
            print(f"\n{len(lits)} literals ({label}):")
            reference: int | None = None
            for name, make in ENGINES.items():
                try:
                    began = time.perf_counter()
                    scan = make(lits)
                    built = time.perf_counter() - began
                except ImportError:
                    print(f"  {name:<22} not installed")
                    continue
                began = time.perf_counter()
                found = sum(len(scan(block)) for block in blocks(log))
                secs = time.perf_counter() - began
                reference = found if reference is None else reference
                print(f"  {name:<22} build {built * 1000:6.1f} ms  scan {secs:6.2f} s  {opts.mb / secs:7.0f} MB/s  "
                      f"{found} candidate lines{'' if found == reference else '  DIFFERENT'}")


if __name__ == "__main__":
    main()
