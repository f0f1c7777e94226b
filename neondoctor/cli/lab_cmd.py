"""`neondoctor lab`: a throwaway local PostgreSQL (neondoctor.lab.cluster), one subcommand per action.

To add a subcommand, decorate a function with `@lab.command()`, `@dir_option` and
`@common_options`, and get the cluster with `require_lab(directory)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import click

from neondoctor.cli import common_options
from neondoctor.cli.output import colour, emit, plain, say
from neondoctor.errors import EXIT_FINDINGS, EXIT_OK, LabError

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


def lab_view(cluster: Any) -> Any:
    """What `lab up|status|start` show, gathered from the cluster (and its PgBouncer, if any)."""
    from neondoctor.render.lab import LabView
    from neondoctor.url import parse_url

    status = cluster.status()
    pooler = cluster.pooler()
    return LabView(status=status, env_file=str(cluster.env_file), database_url=masked_url(cluster),
                   pooler=pooler.status() if pooler else None,
                   pooled_url=parse_url(pooler.url()).masked() if pooler else None)


def show_status(cluster: Any, *, before: str = "") -> NoReturn:
    from neondoctor.render.lab import status_text

    emit(before + status_text(lab_view(cluster)), plain)


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
@click.option("--pooler", is_flag=True,
              help="Also start PgBouncer in transaction mode in front of it, configured like Neon's pooler.")
@common_options
def up(directory: str | None, pg_version: int | None, max_connections: int, superuser_reserved: int,
       reserved: int, ssl: bool, auth: str, idle_ms: int, pooler: bool) -> None:
    """Create and start a lab cluster (or show the one that exists).

    With --pooler, DATABASE_URL in the lab's .env goes through PgBouncer and DATABASE_URL_UNPOOLED
    goes to the server directly, as in Neon's integrations.
    """
    from neondoctor.lab.cluster import LabCluster, LabSpec, find_install
    from neondoctor.lab.pgbouncer import INSTALL_HINT, LabPooler, find_pgbouncer

    existing = load_lab(directory)
    if existing is not None:
        show_status(existing, before=f"a lab already exists in {existing.root} (`neondoctor lab down` removes it)\n")
    spec = LabSpec(auth=auth, max_connections=max_connections, superuser_reserved_connections=superuser_reserved,
                   reserved_connections=reserved, ssl=ssl, idle_session_timeout_ms=idle_ms)
    install = find_install(pg_version)
    bouncer = find_pgbouncer() if pooler else None
    if pooler and bouncer is None:
        raise LabError(INSTALL_HINT)
    cluster = LabCluster.create(lab_root(directory), spec, install)
    if bouncer is not None:
        try:
            LabPooler.create(cluster, install=bouncer)
        except BaseException:
            cluster.destroy()
            raise
    show_status(cluster)


@lab.command()
@dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@common_options
def status(directory: str | None, as_json: bool) -> None:
    """Show the lab: version, port, configuration, whether it runs. Exit 1 when there is none."""
    from neondoctor.render.lab import absent_json, absent_text, status_json, status_text

    cluster = load_lab(directory)
    if cluster is None:
        emit(str(lab_root(directory)), absent_text, absent_json, as_json=as_json, exit_code=EXIT_FINDINGS,
             err=not as_json)
    emit(lab_view(cluster), status_text, status_json, as_json=as_json)


@lab.command()
@dir_option
@common_options
def stop(directory: str | None) -> None:
    """Stop the server and keep its data (the "server is down" fault)."""
    cluster = require_lab(directory)
    if (pooler := cluster.pooler()) is not None:
        pooler.stop()
    cluster.stop()
    emit(f"lab stopped (data kept in {cluster.data_dir}); `neondoctor lab start` brings it back", plain)


@lab.command()
@dir_option
@common_options
def start(directory: str | None) -> None:
    """Start a stopped lab."""
    cluster = require_lab(directory)
    cluster.start()
    if (pooler := cluster.pooler()) is not None:
        pooler.start()
    show_status(cluster)


@lab.command()
@dir_option
@common_options
def down(directory: str | None) -> None:
    """Stop the lab and remove what it created (data, state, its .env); nothing else is touched."""
    from neondoctor.lab.cluster import LabCluster

    cluster = load_lab(directory)
    if cluster is None:
        if LabCluster.remove_unfinished(lab_root(directory)):
            emit(f"unfinished lab removed ({lab_root(directory)})", plain)
        emit(f"no lab in {lab_root(directory)}: nothing to remove", plain)
    cluster.destroy()
    emit(f"lab removed ({cluster.root}); only the files the lab created were deleted", plain)


@lab.command()
@click.option("--json", "as_json", is_flag=True, help="Print the installations as JSON.")
@common_options
def versions(as_json: bool) -> None:
    """PostgreSQL server binaries the lab can use, in lookup order."""
    from neondoctor.lab.cluster import find_installs
    from neondoctor.render.lab import versions_json, versions_text

    installs = find_installs()
    if not installs and not as_json:
        raise LabError("no PostgreSQL server binaries found: install PostgreSQL or set NEONDOCTOR_PG_BINDIR")
    emit(installs, versions_text, versions_json, as_json=as_json)


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
    import time

    from neondoctor.lab.cluster import find_install
    from neondoctor.lab.demo import run_demo, scenario_count
    from neondoctor.render.triage import DemoRun, demo_json, demo_result_text, demo_text

    start = time.monotonic()
    shown: list[Any] = []
    total = scenario_count(driver)

    def started(cluster: Any) -> None:
        if not as_json:
            pooler = cluster.pooler()
            behind = f", PgBouncer {pooler.state.version} in transaction mode on :{pooler.port}" if pooler else ""
            say(f"Throwaway PostgreSQL {cluster.state.version} on 127.0.0.1:{cluster.port} "
                       f"(max_connections 8, 3 reserved{behind}); reproducing each fault for real...\n")

    def show(item: Any) -> None:
        shown.append(item)
        if not as_json:
            say(demo_result_text(len(shown), total, item, colour=colour()) + "\n")

    from neondoctor import drivers
    from neondoctor.errors import ConfigError

    if not drivers.installed(driver):
        raise ConfigError(f"--driver {driver}: not installed in neondoctor's environment "
                          f"(pip install {drivers.DRIVERS[driver].package})")
    skipped: list[Any] = []

    def skip(item: Any) -> None:
        skipped.append(item)
        if not as_json:
            say(f"skipped: {item.title}: {item.reason}\n")

    results = run_demo(find_install(pg_version), on_start=started, on_result=show, on_skip=skip, driver=driver)
    run = DemoRun(results, skipped, time.monotonic() - start)
    emit(run, demo_text, demo_json, as_json=as_json, exit_code=EXIT_OK if all(r.ok for r in results) else EXIT_FINDINGS)
