"""`neondoctor sanity`: parse options, run the sequence (neondoctor.sanity.sequence), render, exit."""

from __future__ import annotations

from pathlib import Path

import click

from neondoctor.cli import common_options, state


@click.command()
@click.option("--metadata", "metadata_spec", metavar="MODULE:ATTR",
              help="Check your own models (a declarative Base or a MetaData) instead of the budget tracker's. "
                   "The current directory is importable. Markers then go to neondoctor_sanity_marker.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, writable=True), metavar="PATH",
              help="Also write a JUnit XML report (one test case per step) for CI.")
@click.option("--timeout", type=click.IntRange(2, 5), default=5, show_default=True,
              help="Seconds for connecting and for a pool checkout.")
@common_options
def sanity(metadata_spec: str | None, as_json: bool, junit_path: str | None, timeout: int) -> None:
    """Run the deployment sanity sequence against DATABASE_URL (for CI).

    Steps, each timed, stopping at the first failure: health (SELECT 1 through a pre-pinged pool),
    schema (create_all; never drops or alters), tables (the inspector finds every table),
    round_trip (a marker row written and read back in a new session), restart (a new process
    reads the marker back). Marker rows are removed afterwards. Exit 0 all passed, 1 a step
    failed, 2 configuration error.

    Example: neondoctor sanity --junit sanity.xml
    """
    from neondoctor.errors import ConfigError
    from neondoctor.render.sanity import render_json, render_text, write_junit
    from neondoctor.sanity.sequence import run_sanity

    if junit_path and not Path(junit_path).resolve().parent.is_dir():
        raise ConfigError(f"--junit {junit_path}: directory {Path(junit_path).parent} does not exist")
    report = run_sanity(state().database_url().url, metadata_spec=metadata_spec, timeout=timeout)
    if junit_path:
        try:
            write_junit(report, junit_path)
        except OSError as exc:
            raise ConfigError(f"--junit {junit_path}: cannot write: {exc.strerror or exc}") from None
    click.echo(render_json(report) if as_json else render_text(report))
    if not report.passed:
        click.get_current_context().exit(1)
