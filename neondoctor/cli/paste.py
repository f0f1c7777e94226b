"""Read a pasted error from a terminal: no quoting, any number of lines, blank lines included.

The paste ends at an empty line typed after some content, or at EOF (Ctrl-D). A paste arrives at
once, so an empty line inside it (Python prints one around "The above exception was the direct
cause of the following exception:") is followed by more input already waiting: the reader looks
for that for a moment before taking an empty line as the end. A traceback that stops right after
such a chaining line is not finished either. The terminal itself (canonical mode) delivers at most
about 4 KiB per line: for longer single lines, use --file or a pipe.
"""

from __future__ import annotations

import os
import select

PROMPT = "Paste the error, then press Enter on an empty line (or Ctrl-D):"
SETTLE_SECONDS = 0.2  # how long the rest of a paste may take to arrive after an empty line
_UNFINISHED = ("The above exception was the direct cause of the following exception:",
               "During handling of the above exception, another exception occurred:")


def _more_waiting(fd: int, timeout: float) -> bool:
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    except (OSError, ValueError):
        return False
    return bool(ready)


def _finished(lines: list[bytes]) -> bool:
    """An empty line was just read: is this the end of the paste?"""
    content = [line.strip() for line in lines if line.strip()]
    if not content:
        return False  # empty lines before anything was pasted are not an answer
    return content[-1].decode("utf-8", "replace") not in _UNFINISHED


def read_until_blank_line(fd: int, *, settle: float = SETTLE_SECONDS) -> str:
    """Lines from `fd` until an empty line after content (with nothing more waiting) or EOF."""
    lines: list[bytes] = []
    pending = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the terminal went away (EIO on a closed pty): keep what arrived
            chunk = b""
        if not chunk:
            if pending:
                lines.append(pending)
            break
        pending += chunk
        done = False
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            lines.append(line.rstrip(b"\r"))
            if not line.strip() and _finished(lines):
                done = not pending and not _more_waiting(fd, settle)
        if done:
            break
    return b"\n".join(lines).decode("utf-8", errors="replace").strip("\n")
