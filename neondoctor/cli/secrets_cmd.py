"""`neondoctor secrets`: audit the git repository (neondoctor.audit.secrets), render, exit."""

from __future__ import annotations

import click

from neondoctor.cli import common_options
from neondoctor.cli.output import emit


@click.command()
@click.option("--repo", "repo", type=click.Path(file_okay=False), default=None,
              help="Repository to audit (default: the one containing the working directory).")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option("--history", is_flag=True,
              help="Also scan every blob in the git history (each once, with a commit that added it).")
@common_options
def secrets(repo: str | None, as_json: bool, history: bool) -> None:
    """Audit a git repository for committed database credentials.

    Checks that .env is ignored and not tracked, that no staged file (the index, what the next
    commit holds) has a connection string with a real-looking password, and that .env.example
    holds placeholders only. --history also reads every past blob. Passwords are never printed. Exit 0 when clean, 1 on any finding, 2 when not inside a git repository.
    Works as a pre-commit hook (`neondoctor secrets`, pass_filenames: false).

    Example: neondoctor secrets --repo path/to/app --history
    """
    from neondoctor.audit.secrets import audit_repository
    from neondoctor.render.secrets import to_json, to_text

    report = audit_repository(repo, history=history)
    emit(report, to_text, to_json, as_json=as_json, exit_code=report.exit_code)
