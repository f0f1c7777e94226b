"""The one colour decision, for the report on stdout and the logs on stderr alike.

An explicit choice (`--color` / `--no-color`) wins; else a non-empty NO_COLOR turns colour off
(no-color.org: an empty NO_COLOR is the same as unset); else colour only on a terminal.
"""

from __future__ import annotations

import os
from typing import TextIO

_choice: bool | None = None  # --color/--no-color of the running command; None: decide per stream


def set_choice(choice: bool | None) -> None:
    """Record --color (True) / --no-color (False) for this invocation; None forgets it."""
    global _choice
    _choice = choice


def wants_colour(stream: TextIO, choice: bool | None = None) -> bool:
    """Whether text written to `stream` may carry ANSI colour."""
    if choice is None:
        choice = _choice
    if choice is not None:
        return choice
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed stream
        return False
