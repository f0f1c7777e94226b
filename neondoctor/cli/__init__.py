"""The click CLI: parse options, call the core, render, pick the exit code. Nothing imports it.

Subcommands live in their own modules and are imported only when invoked, so `neondoctor --help`
and `neondoctor triage --no-probes` never pay for SQLAlchemy or a driver.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from neondoctor import errors
from neondoctor.redaction import RedactingStream, redact

# name -> (module, attribute, one-line help). The help is here so `--help` imports nothing.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "triage": ("neondoctor.cli.triage_cmd", "triage", "Match a pasted error to a runbook and verify its causes one at a time."),
    "runbooks": ("neondoctor.cli.runbooks_cmd", "runbooks", "List, show and validate triage runbooks."),
    "sanity": ("neondoctor.cli.sanity_cmd", "sanity", "Run the deployment sanity sequence (for CI)."),
    "pool-stats": ("neondoctor.cli.pool_stats_cmd", "pool_stats", "Connection slots in use, by whom, against what the server allows."),
    "latency": ("neondoctor.cli.latency_cmd", "latency", "Where connection time goes: DNS, TCP, TLS, auth, query, pool."),
    "url": ("neondoctor.cli.url_cmd", "url", "Audit a connection string (DATABASE_URL by default)."),
    "secrets": ("neondoctor.cli.secrets_cmd", "secrets", "Audit this repository for committed credentials."),
    "lab": ("neondoctor.cli.lab_cmd", "lab", "A throwaway local PostgreSQL that reproduces each failure."),
}


class CliState:
    """Options given before or after the subcommand name, merged."""

    def __init__(self) -> None:
        self.env_file: str | None = None
        self.log_format: str | None = None
        self.verbose = 0
        self.colour: bool | None = None  # --color / --no-color; None: NO_COLOR and the terminal decide

    def database_url(self, *, required: bool = True) -> Any:
        from neondoctor.settings import load_database_url

        return load_database_url(self.env_file, required=required)


def _store(attr: str) -> Any:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        state = ctx.find_root().ensure_object(CliState)
        if value not in (None, 0, False):
            setattr(state, attr, value)
            if attr in ("log_format", "verbose"):
                _configure_logging_from(state)
        return value

    return callback


def _store_colour(ctx: click.Context, _param: click.Parameter, value: bool | None) -> bool | None:
    if value is not None:
        from neondoctor.render.colour import set_choice

        st = ctx.find_root().ensure_object(CliState)
        st.colour = value
        set_choice(value)  # the logs on stderr follow the same choice
        _configure_logging_from(st)
    return value


def common_options(func: Any) -> Any:
    """--env-file, --log-format, -v and --color/--no-color, accepted before or after the subcommand name."""
    func = click.option(
        "--color/--no-color",
        default=None,
        expose_value=False,
        callback=_store_colour,
        help="Colour the output, or not. Default: on a terminal, unless NO_COLOR is set and not empty.",
    )(func)
    func = click.option(
        "--env-file",
        type=click.Path(dir_okay=False),
        expose_value=False,
        callback=_store("env_file"),
        help="Read DATABASE_URL from this file instead of the nearest .env.",
    )(func)
    func = click.option(
        "--log-format",
        type=click.Choice(["console", "json"]),
        expose_value=False,
        callback=_store("log_format"),
        help="Logs on stderr: console (default) or JSON lines. Env: NEONDOCTOR_LOG_FORMAT.",
    )(func)
    func = click.option(
        "-v",
        "--verbose",
        count=True,
        expose_value=False,
        callback=_store("verbose"),
        help="More log output (-v info, -vv debug).",
    )(func)
    return func


def state() -> CliState:
    return click.get_current_context().find_root().ensure_object(CliState)


class NeondoctorGroup(click.Group):
    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        if parent is None:  # a new invocation starts with no colour choice (tests run several per process)
            from neondoctor.render.colour import set_choice

            set_choice(None)
        return super().make_context(info_name, args, parent, **extra)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        # Every byte to stdout/stderr goes through redaction, whatever prints it; a terminal that
        # cannot encode a character gets an escape instead of a UnicodeEncodeError.
        saved = sys.stdout, sys.stderr
        for stream in saved:
            _tolerate_unencodable(stream)
        sys.stdout, sys.stderr = RedactingStream(saved[0]), RedactingStream(saved[1])
        wants_json = "--json" in [*getattr(ctx, "_protected_args", ()), *ctx.args]
        try:
            st = ctx.ensure_object(CliState)
            _configure_logging_from(st)
            return super().invoke(ctx)
        except errors.NeondoctorError as exc:
            _json_error(wants_json, exc.message, exc.exit_code)
            click.echo(f"neondoctor: error: {exc.message}", err=True)
            ctx.exit(exc.exit_code)
        except click.exceptions.Exit:
            raise
        except click.ClickException as exc:
            _json_error(wants_json, exc.format_message(), exc.exit_code)
            raise
        except click.exceptions.Abort:
            raise
        except KeyboardInterrupt:
            click.echo("neondoctor: interrupted", err=True)
            ctx.exit(errors.EXIT_INTERRUPTED)
        except Exception as exc:  # a bug: still one redacted line, never a bare traceback
            if os.environ.get("NEONDOCTOR_DEBUG"):
                import traceback

                click.echo(redact(traceback.format_exc()), err=True)
            click.echo(
                f"neondoctor: internal error: {type(exc).__name__}: {redact(str(exc))} "
                "(set NEONDOCTOR_DEBUG=1 for the traceback)",
                err=True,
            )
            ctx.exit(errors.EXIT_INTERNAL)
        finally:
            for stream in (sys.stdout, sys.stderr):  # the last partial line, redacted
                getattr(stream, "drain", stream.flush)()
            sys.stdout, sys.stderr = saved
            from neondoctor.render.colour import set_choice

            set_choice(None)


def _tolerate_unencodable(stream: Any) -> None:
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(errors="backslashreplace")
        except (ValueError, OSError):  # a closed or exotic stream: leave it as it is
            pass


def _json_error(wants_json: bool, message: str, exit_code: int) -> None:
    """Under --json, a configuration or usage error is a JSON object on stdout too (and a line on stderr)."""
    if wants_json:
        import json

        click.echo(json.dumps({"error": redact(message), "exit_code": exit_code}))


def _configure_logging_from(st: CliState) -> None:
    from neondoctor.log import configure_logging

    level = {0: "warning", 1: "info"}.get(st.verbose, "debug")
    level = os.environ.get("NEONDOCTOR_LOG_LEVEL", level).lower()
    configure_logging(st.log_format, level=level, stream=sys.stderr)


@click.group(cls=NeondoctorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@common_options
@click.version_option(package_name="neondoctor")
def cli() -> None:
    """Diagnose PostgreSQL connection problems of SQLAlchemy apps (Neon first).

    DATABASE_URL comes from the environment or the nearest .env file; its password is never
    printed. Exit codes: 0 ok, 1 findings or failed check, 2 usage/configuration error,
    3 triage found no runbook, 4 could not connect, 70 internal error.
    """


_SKIP_TEARDOWN = False


def skip_teardown() -> None:
    """For a command whose process holds nothing to clean up (no connection, no thread, no temporary
    file): once its output is written, exit without the interpreter's teardown, which frees every
    module and object the process is about to drop anyway (~25 ms after a log scan). The exit
    handlers still run."""
    global _SKIP_TEARDOWN
    _SKIP_TEARDOWN = True


def main() -> None:
    global _SKIP_TEARDOWN
    _SKIP_TEARDOWN = False
    for stream in (sys.stdout, sys.stderr):
        _tolerate_unencodable(stream)
    try:
        cli.main(prog_name="neondoctor")
    except SystemExit as exc:
        loader = sys.modules.get("neondoctor.loader")
        user_code = loader is not None and loader.user_code_ran()
        if user_code or _SKIP_TEARDOWN:
            # User code: a thread the user's module started (or an import still stuck at its deadline)
            # must not keep the process alive or change the exit code: flush and leave now.
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if not user_code:
                import atexit

                atexit._run_exitfuncs()  # logging's flush, as at any exit
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os._exit(code)
        raise
