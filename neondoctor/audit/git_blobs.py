"""The blobs `neondoctor secrets` reads: the index (what the next commit holds) or the whole history.

Never the working tree: a secret staged and then cleaned from the working copy is still what a
pre-commit hook is about to commit, and a tracked symlink is a blob holding a path, never followed.
Blob text is streamed from one `git cat-file --batch` process in chunks, decoded as UTF-8 or, with a
BOM, UTF-16, and cut into lines; a line longer than a window is scanned window by window, so memory
stays bounded whatever the size of a file or a line.
"""

from __future__ import annotations

import codecs
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from neondoctor.errors import ConfigError

CHUNK = 1 << 16
WINDOW = 1 << 16  # characters of one line scanned at a time
OVERLAP = 2048  # kept between windows: longer than any secret pattern
_SKIPPED_MODES = ("120000", "160000")  # symlink, submodule


@dataclass(frozen=True)
class Blob:
    sha: str
    path: str
    commit: str | None = None  # for history: a commit that introduced this content


def index_blobs(root: Path, timeout: float) -> list[Blob]:
    """Every file staged in the index (stage 0, or each side of a conflict), symlinks excluded."""
    out = _run(root, ["ls-files", "-s", "-z"], timeout)
    blobs: dict[str, Blob] = {}
    for entry in out.split("\0"):
        if not entry:
            continue
        meta, _, path = entry.partition("\t")
        mode, sha, _stage = meta.split()
        if mode not in _SKIPPED_MODES:
            blobs.setdefault(f"{sha}:{path}", Blob(sha, path))
    return list(blobs.values())


def history_blobs(root: Path, timeout: float) -> list[Blob]:
    """Each blob reachable from any ref, once, with the oldest commit (in topological order) adding it."""
    revs = _run(root, ["rev-list", "--all", "--reverse", "--topo-order"], timeout)
    if not revs.strip():
        return []
    out = _run(root, ["diff-tree", "--stdin", "-r", "--root", "-m", "--no-abbrev", "-z", "--no-renames",
                      "--diff-filter=AMT"], timeout, stdin=revs)
    seen: dict[str, Blob] = {}
    tokens = iter(out.split("\0"))
    commit = None
    for token in tokens:
        if token.startswith(":"):
            path = next(tokens, "")
            _old_mode, new_mode, _old_sha, new_sha, _status = token[1:].split()
            if new_mode not in _SKIPPED_MODES and new_sha not in seen:
                seen[new_sha] = Blob(new_sha, path, commit)
        elif token.strip():
            commit = token.strip().split()[0]
    return list(seen.values())


def _run(root: Path, args: list[str], timeout: float, stdin: str | None = None) -> str:
    try:
        proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, input=stdin,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"git {args[0]} did not finish within {timeout:.0f}s") from None
    if proc.returncode != 0:
        raise ConfigError(f"git {args[0]} failed: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
    return proc.stdout


class BlobReader:
    """One `git cat-file --batch` process; `lines(sha)` streams a blob as (line number, text) pieces."""

    def __init__(self, root: Path) -> None:
        self._proc = subprocess.Popen(["git", "-C", str(root), "cat-file", "--batch"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def lines(self, sha: str) -> Iterator[tuple[int, str]]:
        """The blob's text lines (windows of long ones); nothing for a binary blob. Reads it to the end."""
        assert self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(sha.encode() + b"\n")
        self._proc.stdin.flush()
        header = self._proc.stdout.readline().split()
        if len(header) < 3 or header[1] != b"blob":
            return
        remaining = int(header[2])
        chunks = self._chunks(remaining)
        try:
            first = next(chunks, b"")
            decoder = _decoder(first)
            if decoder is not None:
                yield from _segments(decoder, first, chunks)
        finally:
            for _ in chunks:  # drain the rest of the blob, and the newline git adds after it
                pass

    def _chunks(self, size: int) -> Iterator[bytes]:
        assert self._proc.stdout
        while size > 0:
            data = self._proc.stdout.read(min(CHUNK, size))
            if not data:
                raise ConfigError("git cat-file ended in the middle of a blob")
            size -= len(data)
            yield data
        self._proc.stdout.read(1)


def _decoder(first: bytes) -> codecs.IncrementalDecoder | None:
    if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return codecs.getincrementaldecoder("utf-16")(errors="replace")
    if b"\0" in first[:8192]:
        return None  # binary
    return codecs.getincrementaldecoder("utf-8-sig")(errors="replace")


def _segments(decoder: codecs.IncrementalDecoder, first: bytes, rest: Iterator[bytes]) -> Iterator[tuple[int, str]]:
    number, pending = 1, ""

    def texts() -> Iterator[str]:
        yield decoder.decode(first)
        for chunk in rest:
            yield decoder.decode(chunk)
        yield decoder.decode(b"", final=True)

    for text in texts():
        parts = (pending + text).split("\n")
        pending = parts.pop()
        for line in parts:
            yield from _windows(number, line.rstrip("\r"))
            number += 1
        if len(pending) > WINDOW:  # a long line still going: scan what there is, keep an overlap
            yield number, pending
            pending = pending[-OVERLAP:]
    if pending:
        yield from _windows(number, pending)


def _windows(number: int, line: str) -> Iterator[tuple[int, str]]:
    if len(line) <= WINDOW:
        yield number, line
        return
    for start in range(0, len(line), WINDOW - OVERLAP):
        yield number, line[start:start + WINDOW]
