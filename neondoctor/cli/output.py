"""How every command ends: its report rendered once (JSON, or text with colour decided once), echoed, exit.

A command calls `emit(report, to_text, to_json, as_json=..., exit_code=...)` with the renderers of
its report type (neondoctor.render.*), or `finish(code)` when it has nothing left to print. Lines a
command streams before its report (samples, progress, scenarios) go through `say`. Exceptions are
mapped to exit codes in one place: the group's `invoke` in neondoctor/cli/__init__.py.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn, Protocol, TypeVar

import click

from neondoctor.cli import state
from neondoctor.errors import EXIT_OK
from neondoctor.render.colour import wants_colour

R = TypeVar("R")
R_contra = TypeVar("R_contra", contravariant=True)


class TextRenderer(Protocol[R_contra]):
    def __call__(self, report: R_contra, /, *, colour: bool = ...) -> str: ...


def colour(*, err: bool = False) -> bool:
    """Whether this command's stdout (or stderr) gets colour: --color/--no-color, NO_COLOR, terminal."""
    return wants_colour(sys.stderr if err else sys.stdout, state().colour)


def dump_json(doc: Any, *, compact: bool = False) -> str:
    """One JSON document: indented, or on one line (a line of a --watch --json stream)."""
    if compact:
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, default=str)
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str)


def plain(text: str, *, colour: bool = False) -> str:
    """The text renderer of a message that is already text."""
    return text


def say(text: str, *, err: bool = False) -> None:
    """A line before the report (progress, a sample, a scenario), flushed at once."""
    click.echo(text, err=err, color=colour(err=err))
    (sys.stderr if err else sys.stdout).flush()


def finish(exit_code: int = EXIT_OK) -> NoReturn:
    """End the command with a code from neondoctor.errors (or a documented table of its own)."""
    click.get_current_context().exit(exit_code)


def emit(report: R, text: TextRenderer[R], json_doc: Callable[[R], Any] | None = None, *, as_json: bool = False,
         exit_code: int = EXIT_OK, compact: bool = False, err: bool = False) -> NoReturn:
    """Render `report` (JSON when asked and a JSON renderer exists), echo it, exit with `exit_code`."""
    if as_json and json_doc is not None:
        click.echo(dump_json(json_doc(report), compact=compact), err=err)
    else:
        coloured = colour(err=err)
        click.echo(text(report, colour=coloured), err=err, color=coloured)
    finish(exit_code)
