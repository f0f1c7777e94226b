"""`neondoctor runbooks list|show ID|validate [DIR]`."""

from __future__ import annotations

import click

from neondoctor.cli import common_options
from neondoctor.cli.output import emit, plain

_dirs_option = click.option("--runbooks-dir", "runbooks_dirs", multiple=True, type=click.Path(file_okay=False),
                            help="Extra runbooks, merged with the shipped ones by order. Repeatable.")


@click.group("runbooks")
@common_options
def runbooks() -> None:
    """List, show and validate triage runbooks (shipped ones plus --runbooks-dir)."""


@runbooks.command("list")
@_dirs_option
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
@common_options
def list_cmd(runbooks_dirs: tuple[str, ...], as_json: bool) -> None:
    """The runbooks in match order.

    Example: neondoctor runbooks list
    """
    from neondoctor.render.runbooks import list_json, list_text
    from neondoctor.triage.runbook import load_runbooks

    books = load_runbooks(list(runbooks_dirs))
    emit(books, list_text, list_json, as_json=as_json)


@runbooks.command("show")
@click.argument("runbook_id")
@_dirs_option
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
@common_options
def show_cmd(runbook_id: str, runbooks_dirs: tuple[str, ...], as_json: bool) -> None:
    """One runbook: its match conditions and its steps with probes, fixes and docs.

    Example: neondoctor runbooks show auth-failure
    """
    from neondoctor.errors import ConfigError
    from neondoctor.render.runbooks import show_json, show_text
    from neondoctor.triage.runbook import load_runbooks

    books = load_runbooks(list(runbooks_dirs))
    book = next((b for b in books if b.id == runbook_id), None)
    if book is None:
        raise ConfigError(f"no runbook {runbook_id!r} (known: {', '.join(b.id for b in books)})")
    emit(book, show_text, show_json, as_json=as_json)


@runbooks.command("validate")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@common_options
def validate_cmd(directory: str | None) -> None:
    """Validate a directory of runbooks (default: the shipped ones). Exit 2 listing every problem.

    Example: neondoctor runbooks validate ./my-runbooks
    """
    from neondoctor.triage.runbook import load_runbooks, shipped_runbooks_dir, validate_dir

    if directory:
        books = validate_dir(directory)
        # also check they merge with the shipped ones (duplicate ids)
        load_runbooks([directory])
    else:
        books = validate_dir(shipped_runbooks_dir())
    where = directory or str(shipped_runbooks_dir())
    emit(f"{len(books)} runbook(s) valid in {where}: {', '.join(b.id for b in books)}", plain)
