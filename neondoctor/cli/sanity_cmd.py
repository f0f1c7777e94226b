"""`neondoctor sanity`: parse options, run the sequence (neondoctor.sanity.sequence), render, exit."""

from __future__ import annotations

from pathlib import Path

import click

from neondoctor.cli import common_options, state
from neondoctor.cli.output import emit, say


@click.command()
@click.option("--metadata", "metadata_spec", metavar="MODULE:ATTR",
              help="Check your own models (a declarative Base or a MetaData) instead of the budget tracker's. "
                   "The current directory is importable. Your tables are never created; markers go to "
                   "neondoctor's own schema `neondoctor`.")
@click.option("--no-create", is_flag=True, help="Verify only: no DDL at all (the schema step is skipped).")
@click.option("--read-only", is_flag=True,
              help="Every transaction READ ONLY: no DDL, no marker written; health, migrations, drift and a "
                   "read round trip. Works with a role that has only CONNECT and SELECT.")
@click.option("--alembic", "alembic_path", metavar="PATH",
              help="An alembic.ini or its directory: the database must be at the single head revision "
                   "(read only; no migration runs). Needs neondoctor[alembic].")
@click.option("--drop-own-schema", is_flag=True,
              help="Remove neondoctor's own objects (schema `neondoctor` and its marker table) and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, writable=True), metavar="PATH",
              help="Also write a JUnit XML report (one test case per step) for CI.")
@click.option("--timeout", type=click.IntRange(2, 5), default=5, show_default=True,
              help="Seconds for connecting and for a pool checkout.")
@common_options
def sanity(metadata_spec: str | None, no_create: bool, read_only: bool, alembic_path: str | None,
           drop_own_schema: bool, as_json: bool, junit_path: str | None, timeout: int) -> None:
    """Run the deployment sanity sequence against DATABASE_URL (for CI).

    Steps, each timed, stopping at the first failure: health (SELECT 1 through a pre-pinged pool),
    migrations (--alembic: current revision = head), schema (the budget tracker's missing tables,
    announced first; with --metadata only neondoctor's own schema), tables (schema drift: columns,
    types, nullability, keys, indexes), round_trip (a marker row written and read back in a new
    session), restart (a new process reads the marker back). Marker rows are removed afterwards.
    Exit 0 all passed, 1 a step failed, 2 configuration error.

    Example: neondoctor sanity --metadata myapp.models:Base --alembic alembic.ini --junit sanity.xml
    """
    from neondoctor.errors import ConfigError
    from neondoctor.render.sanity import announce_text, dropped_text, to_json, to_text, write_junit
    from neondoctor.sanity.sequence import drop_own_schema as drop
    from neondoctor.sanity.sequence import run_sanity

    url = state().database_url().url
    if drop_own_schema:
        emit(drop(url, timeout=timeout), dropped_text)
    if junit_path and not Path(junit_path).resolve().parent.is_dir():
        raise ConfigError(f"--junit {junit_path}: directory {Path(junit_path).parent} does not exist")

    def announce(objects: list[str]) -> None:
        if not as_json:  # JSON stays one document; it lists will_create and created
            say(announce_text(objects))

    report = run_sanity(url, metadata_spec=metadata_spec, timeout=timeout, no_create=no_create,
                        read_only=read_only, alembic=alembic_path, announce=announce)
    if junit_path:
        try:
            write_junit(report, junit_path)
        except OSError as exc:
            raise ConfigError(f"--junit {junit_path}: cannot write: {exc.strerror or exc}") from None
    emit(report, to_text, to_json, as_json=as_json, exit_code=report.exit_code)
