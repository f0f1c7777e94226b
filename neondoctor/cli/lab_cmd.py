"""`neondoctor lab`: a throwaway local PostgreSQL (neondoctor.lab.cluster), one subcommand per action.

To add a subcommand, decorate a function with `@lab.command()`, `@dir_option` and
`@common_options`, and get the cluster with `require_lab(directory)`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from neondoctor.cli import common_options
from neondoctor.errors import EXIT_FINDINGS, LabError

dir_option = click.option(
    "--dir", "directory", type=click.Path(file_okay=False), default=None,
    help="Where the lab lives (default: NEONDOCTOR_LAB_DIR or ~/.cache/neondoctor/lab).",
)


def lab_root(directory: str | None) -> Path:
    from neondoctor.lab.cluster import default_root

    return Path(directory) if directory else default_root()


def load_lab(directory: str | None) -> Any:
    """The lab in `directory`, or None when there is none."""
    from neondoctor.lab.cluster import LabCluster

    return LabCluster.load(lab_root(directory))


def require_lab(directory: str | None) -> Any:
    cluster = load_lab(directory)
    if cluster is None:
        raise LabError(f"no lab in {lab_root(directory)}: run `neondoctor lab up` first")
    return cluster


def masked_url(cluster: Any) -> str:
    from neondoctor.url import parse_url

    return parse_url(cluster.app_url()).masked()


def usage_lines(cluster: Any) -> list[str]:
    env = cluster.env_file
    return [
        f"DATABASE_URL={masked_url(cluster)}",
        f"env file (mode 0600, holds the password): {env}",
        "use it:",
        f"  neondoctor --env-file {env} url",
        f"  export $(grep DATABASE_URL {env})",
    ]


def status_lines(cluster: Any) -> list[str]:
    st = cluster.status()
    state = "running" if st["running"] else "stopped"
    lines = [
        f"lab: PostgreSQL {st['version']} {state} on 127.0.0.1:{st['port']}",
        f"  directory: {st['root']}",
        f"  data:      {st['data_dir']}" + (f" (server runs as {st['server_user']})" if st["server_user"] else ""),
        f"  binaries:  {st['bindir']}",
    ]
    spec = st["spec"]
    lines.append(
        f"  config:    auth={spec['auth']} max_connections={spec['max_connections']} "
        f"superuser_reserved={spec['superuser_reserved_connections']} reserved={spec['reserved_connections']} "
        f"ssl={'on' if spec['ssl'] else 'off'} idle_session_timeout={spec['idle_session_timeout_ms']}ms"
    )
    return lines + usage_lines(cluster)


@click.group()
@common_options
def lab() -> None:
    """A throwaway local PostgreSQL that reproduces connection failures for real.

    `lab up` creates and starts a cluster (its own data directory and port) and prints its
    DATABASE_URL with the password masked, plus the 0600 .env file that holds it.

    Example: neondoctor lab up --max-connections 10 --idle-session-timeout 5000
    """


@lab.command()
@dir_option
@click.option("--pg-version", type=int, default=None, help="PostgreSQL major version (see `lab versions`).")
@click.option("--max-connections", type=click.IntRange(5, 10000), default=50, show_default=True)
@click.option("--superuser-reserved", type=click.IntRange(0, 1000), default=3, show_default=True,
              help="superuser_reserved_connections")
@click.option("--reserved", type=click.IntRange(0, 1000), default=0, show_default=True,
              help="reserved_connections (PostgreSQL 16+)")
@click.option("--ssl/--no-ssl", default=False, show_default=True, help="TLS with a self-signed certificate.")
@click.option("--auth", type=click.Choice(["scram-sha-256", "md5", "trust"]), default="scram-sha-256",
              show_default=True)
@click.option("--idle-session-timeout", "idle_ms", type=click.IntRange(0), default=0, metavar="MS",
              show_default=True, help="idle_session_timeout in milliseconds (PostgreSQL 14+; 0 = off).")
@common_options
def up(directory: str | None, pg_version: int | None, max_connections: int, superuser_reserved: int,
       reserved: int, ssl: bool, auth: str, idle_ms: int) -> None:
    """Create and start a lab cluster (or show the one that exists)."""
    from neondoctor.lab.cluster import LabCluster, LabSpec, find_install

    existing = load_lab(directory)
    if existing is not None:
        click.echo(f"a lab already exists in {existing.root} (`neondoctor lab down` removes it)")
        click.echo("\n".join(status_lines(existing)))
        return
    spec = LabSpec(auth=auth, max_connections=max_connections, superuser_reserved_connections=superuser_reserved,
                   reserved_connections=reserved, ssl=ssl, idle_session_timeout_ms=idle_ms)
    install = find_install(pg_version)
    cluster = LabCluster.create(lab_root(directory), spec, install)
    click.echo("\n".join(status_lines(cluster)))


@lab.command()
@dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@common_options
def status(directory: str | None, as_json: bool) -> None:
    """Show the lab: version, port, configuration, whether it runs. Exit 1 when there is none."""
    cluster = load_lab(directory)
    if cluster is None:
        if as_json:
            click.echo(json.dumps({"root": str(lab_root(directory)), "exists": False, "running": False}))
        else:
            click.echo(f"no lab in {lab_root(directory)} (`neondoctor lab up` creates one)", err=True)
        raise SystemExit(EXIT_FINDINGS)
    if as_json:
        doc = cluster.status()
        doc["exists"] = True
        doc["database_url"] = masked_url(cluster)
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo("\n".join(status_lines(cluster)))


@lab.command()
@dir_option
@common_options
def stop(directory: str | None) -> None:
    """Stop the server and keep its data (the "server is down" fault)."""
    cluster = require_lab(directory)
    cluster.stop()
    click.echo(f"lab stopped (data kept in {cluster.data_dir}); `neondoctor lab start` brings it back")


@lab.command()
@dir_option
@common_options
def start(directory: str | None) -> None:
    """Start a stopped lab."""
    cluster = require_lab(directory)
    cluster.start()
    click.echo("\n".join(status_lines(cluster)))


@lab.command()
@dir_option
@common_options
def down(directory: str | None) -> None:
    """Stop the lab and remove its data, state and .env file."""
    cluster = load_lab(directory)
    if cluster is None:
        click.echo(f"no lab in {lab_root(directory)}: nothing to remove")
        return
    cluster.destroy()
    click.echo(f"lab removed ({cluster.root})")


@lab.command()
@click.option("--json", "as_json", is_flag=True, help="Print the installations as JSON.")
@common_options
def versions(as_json: bool) -> None:
    """PostgreSQL server binaries the lab can use, in lookup order."""
    from neondoctor.lab.cluster import find_installs

    installs = find_installs()
    if as_json:
        click.echo(json.dumps([{"major": i.major, "version": i.version, "source": i.source, "bindir": str(i.bindir)}
                               for i in installs], indent=2))
        return
    if not installs:
        raise LabError("no PostgreSQL server binaries found: install PostgreSQL or set NEONDOCTOR_PG_BINDIR")
    for i in installs:
        click.echo(f"PostgreSQL {i.version:<8} {i.source:<24} {i.bindir}")


@lab.command()
@click.option("--pg-version", type=int, default=None, help="PostgreSQL major version (see `lab versions`).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON (one triage result per fault).")
@click.option("--driver", type=click.Choice(["psycopg2", "psycopg", "psycopg_async", "asyncpg"]), default="psycopg2",
              show_default=True, help="The driver the app side uses to reproduce the faults (and neondoctor probes with).")
@common_options
def demo(pg_version: int | None, as_json: bool, driver: str) -> None:
    """Reproduce each runbook's fault for real on a throwaway PostgreSQL and triage it live.

    Exit 0 when every fault was triaged to its expected confirmed cause, 1 otherwise.

    Example: neondoctor lab demo
    """
    import os
    import sys
    import time

    from neondoctor.lab.cluster import find_install
    from neondoctor.lab.demo import run_demo, scenario_count
    from neondoctor.render.triage import demo_result_text, demo_summary_text, to_json

    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    start = time.monotonic()
    shown: list[Any] = []
    total = scenario_count(driver)

    def started(cluster: Any) -> None:
        if not as_json:
            click.echo(f"Throwaway PostgreSQL {cluster.state.version} on 127.0.0.1:{cluster.port} "
                       f"(max_connections 8, 3 reserved); reproducing each fault for real...\n")

    def show(item: Any) -> None:
        shown.append(item)
        if not as_json:
            click.echo(demo_result_text(len(shown), total, item, colour=colour) + "\n", color=colour)

    from neondoctor import drivers
    from neondoctor.errors import ConfigError

    if not drivers.installed(driver):
        raise ConfigError(f"--driver {driver}: not installed in neondoctor's environment "
                          f"(pip install {drivers.DRIVERS[driver].package})")
    results = run_demo(find_install(pg_version), on_start=started, on_result=show, driver=driver)
    if as_json:
        click.echo(json.dumps([{"fault": r.title, "expected_runbook": r.runbook_id, "expected_step": r.expected_step,
                                "ok": r.ok, "error": r.error, "triage": to_json(r.result)} for r in results], indent=2))
    else:
        click.echo(demo_summary_text(results, time.monotonic() - start))
    if not all(r.ok for r in results):
        raise SystemExit(EXIT_FINDINGS)
