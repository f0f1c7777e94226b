"""Files the user points neondoctor at (`--file`, `--env-file`, `--log`): regular files or stdin only.

A FIFO blocks the reader until someone writes to it, and `/dev/zero` never ends: both are refused
before anything is read (opened non-blocking, then checked with fstat, so a path swapped between
the check and the open is caught too). A paste is capped: triage reads its last `PASTE_LIMIT`
bytes (a traceback ends with the error) and refuses more than `STDIN_LIMIT` on stdin.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import BinaryIO

from neondoctor.errors import ConfigError

PASTE_LIMIT = 1 << 20  # 1 MiB of paste is read; whole logs go to `triage --log`
STDIN_LIMIT = 64 << 20  # `yes | neondoctor triage` must end
ENV_FILE_LIMIT = 1 << 20
_CHUNK = 1 << 16


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str | Path, what: str, *, buffering: int = -1) -> BinaryIO:
    """Open `path` for reading if it is a regular file (a symlink to one is fine); ConfigError if not."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {path} is a directory") from None
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        stdin_too = "" if what == "env file" else " (or - for stdin)"
        raise ConfigError(f"{what} {path} is {_kind(mode)}: give a regular file{stdin_too}")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb", buffering=buffering)


def require_regular(path: str | Path, what: str) -> None:
    """Refuse a path that is not a regular file, without reading it ("-" means stdin: checked too)."""
    if str(path) == "-":
        check_stdin(what)
        return
    open_regular(path, what).close()


def check_stdin(what: str) -> None:
    """Stdin may be a pipe, a regular file or a terminal; a device such as /dev/zero is refused."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return  # replaced by a test runner or closed: nothing to guard
    if stat.S_ISCHR(mode) and not os.isatty(sys.stdin.fileno()):
        raise ConfigError(f"stdin is {_kind(mode)} ({what}): pipe text in, or give a regular file")


def read_text_file(path: str | Path, what: str, *, limit: int = ENV_FILE_LIMIT) -> str:
    """The whole of a small regular file (an env file), refused beyond `limit` bytes."""
    with open_regular(path, what) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ConfigError(f"{what} {path} is larger than {limit // 1024} KiB: not a file of settings")
    return data.decode("utf-8")


def read_paste(path: str | Path | None, what: str = "--file", *, stdin: BinaryIO | None = None) -> str:
    """The last PASTE_LIMIT bytes of a pasted error, from a regular file or (path None or "-") stdin."""
    if path is None or str(path) == "-":
        check_stdin("the paste")
        stream = stdin if stdin is not None else sys.stdin.buffer
        return _tail(stream, limit=PASTE_LIMIT, stop_after=STDIN_LIMIT, what="stdin")
    with open_regular(path, what) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > PASTE_LIMIT:
            handle.seek(size - PASTE_LIMIT)
        return _decode_tail(handle.read(PASTE_LIMIT), cut=size > PASTE_LIMIT)


def _tail(stream: BinaryIO, *, limit: int, stop_after: int, what: str) -> str:
    kept = b""
    total = 0
    while chunk := stream.read(_CHUNK):
        total += len(chunk)
        if total > stop_after:
            raise ConfigError(f"more than {stop_after >> 20} MiB on {what}: a paste is one error; "
                              "scan whole logs with `triage --log`")
        kept = (kept + chunk)[-limit:]
    return _decode_tail(kept, cut=total > limit)


def _decode_tail(data: bytes, *, cut: bool) -> str:
    if cut:  # the first line was cut in the middle (maybe mid-character): drop it
        data = data.partition(b"\n")[2] or data
    return data.decode("utf-8", errors="replace")
