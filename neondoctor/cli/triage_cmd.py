"""`neondoctor triage`: paste an error, get its runbook and its causes verified one at a time."""

from __future__ import annotations

import re
import sys
from typing import Any, NoReturn

import click

from neondoctor.cli import common_options, skip_teardown, state
from neondoctor.cli.output import emit
from neondoctor.errors import EXIT_NO_MATCH, EXIT_OK


def _read_paste(text: str | None, file: str | None) -> str:
    from neondoctor.errors import ConfigError
    from neondoctor.inputs import read_paste

    if file is not None:
        if text not in (None, "-"):
            raise ConfigError("give the error as TEXT or with --file, not both")
        return read_paste(file, "--file")
    if text is not None and text != "-":
        return text
    stdin = click.get_binary_stream("stdin")
    if stdin.isatty():
        return _prompt_for_paste(stdin.fileno())
    # A paste may hold bytes that are not UTF-8 (a log cut mid-character): keep going, never crash.
    return read_paste(None, "stdin", stdin=stdin)


def _prompt_for_paste(fd: int) -> str:
    """On a terminal: ask for the paste and read it as it comes, quotes and blank lines included."""
    from neondoctor.cli.paste import PROMPT, read_until_blank_line

    click.echo(PROMPT, err=True)
    return read_until_blank_line(fd)


def _scan_log(path: str, text: str | None, file: str | None, runbooks_dirs: tuple[str, ...], as_json: bool) -> NoReturn:
    """Exit 0 when the log holds at least one known incident, 3 when none (as for one error)."""
    from neondoctor.errors import ConfigError
    from neondoctor.render.logscan import to_json, to_text
    from neondoctor.triage.logscan import scan_log

    if text is not None or file is not None:
        raise ConfigError("--log scans a whole file: give no TEXT and no --file with it")
    from neondoctor.inputs import require_regular

    require_regular(path, "--log")  # a FIFO or a device would block or never end
    # The progress line is drawn on the real terminal, under the line-buffered redacting wrapper.
    err = getattr(sys.stderr, "inner", sys.stderr)
    result = scan_log(path, runbooks_dirs, progress_stream=err if err.isatty() else None)
    skip_teardown()  # a scan leaves no connection, thread or file open
    emit(result, to_text, to_json, as_json=as_json, exit_code=EXIT_OK if result.incidents else EXIT_NO_MATCH)


def _ask(step: Any) -> bool:
    """On a terminal, a manual step is asked: answering yes rules it out and the walk goes on."""
    click.echo(f"\nManual check: {step.cause}\n  {step.manual}", err=True)
    return click.confirm("Have you checked, and is this ruled out?", default=False, err=True)


@click.command("triage")
@click.argument("text", required=False)
@click.option("--file", "file", type=click.Path(dir_okay=False), help="Read the pasted error from this file.")
@click.option("--json", "as_json", is_flag=True, help="Print the stable JSON result instead of text.")
@click.option("--no-probes", is_flag=True, help="Only match and show the plan; touch no network.")
@click.option("--ruled-out", "ruled_out", multiple=True, metavar="STEP",
              help="A step you ruled out by hand; the walk continues after it. Repeatable.")
@click.option("--engine", "engine_ref", metavar="MOD:ATTR", help="The app's SQLAlchemy engine, e.g. myapp.db:engine.")
@click.option("--runbooks-dir", "runbooks_dirs", multiple=True, type=click.Path(file_okay=False),
              help="Extra runbooks, merged with the shipped ones by order. Repeatable.")
@click.option("--timeout", type=click.IntRange(2, 60), default=5, show_default=True,
              help="Seconds allowed for each network step.")
@click.option("--direct-url", "direct_url", metavar="URL",
              help="Behind a pooler, the server's direct URL (default: DATABASE_URL_UNPOOLED or DIRECT_URL; "
                   "for a Neon -pooler host, the same host without -pooler).")
@click.option("--log", "log_path", metavar="PATH",
              help="Scan a whole log (any size, gzip too, - for stdin) for every known incident.")
@click.option("--python", "python", metavar="PATH", default=None,
              help="The app's interpreter, whose drivers the driver probe checks (default: VIRTUAL_ENV, ./.venv, "
                   "else neondoctor's own).")
@common_options
def triage(text: str | None, file: str | None, as_json: bool, no_probes: bool, ruled_out: tuple[str, ...],
           engine_ref: str | None, runbooks_dirs: tuple[str, ...], timeout: int, direct_url: str | None,
           log_path: str | None, python: str | None) -> None:
    """Match a pasted error (TEXT, --file, or stdin) to a runbook and verify its causes in order.

    With no TEXT on a terminal, it asks for the paste: paste the error as it is (no quoting), then
    press Enter on an empty line (or Ctrl-D).

    Exit codes: 0 a cause was confirmed (or --no-probes and a runbook matched), 1 matched but no cause
    confirmed, 3 no runbook matches, 2 usage or configuration error.

    Example: neondoctor triage "FATAL: password authentication failed for user \\"app\\""
    """
    if log_path is not None:
        _scan_log(log_path, text, file, runbooks_dirs, as_json)  # exits; needs none of the walk's modules
    from neondoctor.errors import ConfigError
    from neondoctor.render.triage import to_json, to_text
    from neondoctor.triage.runbook import load_runbooks
    from neondoctor.triage.walk import TriageOptions
    from neondoctor.triage.walk import triage as run_triage

    interactive = not as_json and sys.stdin.isatty() and sys.stdout.isatty() and text != "-"
    if engine_ref is not None and not re.fullmatch(r"[\w.]+:[\w.]+", engine_ref):
        raise ConfigError(f"--engine must be module:attribute (e.g. myapp.db:engine), got {engine_ref!r}")
    paste = _read_paste(text, file)
    if not paste.strip():
        raise ConfigError("the pasted error is empty")
    books = load_runbooks(list(runbooks_dirs))
    options = TriageOptions(probes=not no_probes, ruled_out=ruled_out, engine_ref=engine_ref,
                            env_file=state().env_file, timeout=timeout, direct_url=direct_url, python=python)
    result = run_triage(paste, books, options, ask=_ask if interactive else None)
    emit(result, to_text, to_json, as_json=as_json, exit_code=result.exit_code)
