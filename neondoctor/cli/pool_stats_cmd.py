"""`neondoctor pool-stats`: parse options, one call into `neondoctor.pool_stats`, render, exit code.

A group: without a subcommand it takes a snapshot (or `--watch`, or `--check`); `record`, `report`
and `serve` live in `pool_stats_sub_cmd`.
"""

from __future__ import annotations

from typing import Any

import click

from neondoctor.cli import common_options, state
from neondoctor.cli.output import dump_json, emit, say
from neondoctor.cli.params import FiniteFloat


@click.group("pool-stats", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout instead of text.")
@click.option("--recycle", type=FiniteFloat(min=0), default=None, metavar="SECONDS",
              help="The app's pool_recycle: count sessions idle longer than this.")
@click.option("--processes", type=click.IntRange(min=1), default=None, metavar="N",
              help="Worker processes of the app (for pool sizing).")
@click.option("--pool-size", type=click.IntRange(min=0), default=None, metavar="P", help="The app's pool_size.")
@click.option("--max-overflow", type=click.IntRange(min=0), default=None, metavar="O",
              help="The app's max_overflow.")
@click.option("--app-name", default=None, metavar="NAME",
              help="The app's application_name: its own sessions are not counted as 'others' when sizing.")
@click.option("--engine", "engine_target", default=None, metavar="MODULE:ATTR",
              help="Import the app's SQLAlchemy engine (cwd on sys.path) and report its QueuePool.")
@click.option("--watch", is_flag=True, help="Sample repeatedly and look for a leak (usage climbs, active flat).")
@click.option("--interval", type=FiniteFloat(min=0.05), default=2.0, show_default=True, metavar="S",
              help="Seconds between --watch samples.")
@click.option("--samples", type=click.IntRange(min=2, max=10000), default=10, show_default=True, metavar="N",
              help="Number of --watch samples.")
@click.option("--check", "as_check", is_flag=True,
              help="One plugin line with perfdata and the Nagios exit table: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.")
@click.option("--warn-pct", type=FiniteFloat(min=0, max=100), default=70.0, show_default=True,
              metavar="PCT", help="Slot usage % that is a warning.")
@click.option("--critical-pct", type=FiniteFloat(min=0, max=100), default=90.0, show_default=True,
              metavar="PCT", help="Slot usage % that is critical.")
@click.option("--idle-in-transaction-warn", "iit_warn", type=FiniteFloat(min=0), default=30.0,
              show_default=True, metavar="SECONDS", help="Idle in transaction longer than this is a warning.")
@click.option("--leak-min-climb", type=click.IntRange(min=1), default=3, show_default=True, metavar="N",
              help="--watch: slots gained first->last sample before a leak is suspected.")
@click.option("--pgbouncer-url", default=None, metavar="URL", envvar="NEONDOCTOR_PGBOUNCER_URL",
              help="A PgBouncer admin console (database pgbouncer) whose pools to show beside the slots.")
@click.option("--connect-timeout", type=click.IntRange(min=2, max=60), default=5, show_default=True,
              metavar="SECONDS",
              help="Seconds to wait for the one connection.")
@common_options
@click.pass_context
def pool_stats(ctx: click.Context, as_json: bool, as_check: bool, recycle: float | None, processes: int | None, pool_size: int | None,
               max_overflow: int | None, app_name: str | None, engine_target: str | None, watch: bool,
               interval: float, samples: int, warn_pct: float, critical_pct: float, iit_warn: float,
               leak_min_climb: int, pgbouncer_url: str | None, connect_timeout: int) -> None:
    """Connection slots in use, by whom, against what the server allows.

    One connection (read-only, bounded timeouts, application_name=neondoctor), one query per sample.
    Exit codes: 0 ok/info only, 1 a warn or critical finding, 2 configuration error,
    4 could not connect (slots full or unreachable; with --watch, also when the server went away
    mid-watch: the samples taken are still reported). --check has its own exit table (see --check).
    --watch --json prints one JSON line per sample as it arrives, then one line with the findings.

    Subcommands: record (a day of evidence to a file), report (advice from it), serve (Prometheus).

    Example: neondoctor pool-stats --processes 4 --pool-size 5 --max-overflow 10 --recycle 300
    """
    if ctx.invoked_subcommand:
        return
    if as_check:
        from neondoctor.cli.pool_stats_sub_cmd import run_check

        run_check(warn_pct, critical_pct, iit_warn, connect_timeout)
    from neondoctor import pool_stats as ps
    from neondoctor.errors import ConfigError
    from neondoctor.findings import sort_findings
    from neondoctor.render.pool_stats import report_line_json, sample_json, sample_text, to_json, to_text
    from neondoctor.url import parse_url

    thresholds = ps.Thresholds(warn_pct, critical_pct, iit_warn)
    thresholds.validate()
    parsed = parse_url(state().database_url().url)

    engine = ps.load_engine_pool(engine_target, timeout=connect_timeout) if engine_target else None
    sizing = None
    given = (processes, pool_size, max_overflow)
    if any(v is not None for v in given) or engine:
        # The engine's own pool settings fill what was not given on the command line.
        if pool_size is None and engine and engine.size is not None:
            pool_size = engine.size
        if max_overflow is None and engine and engine.max_overflow is not None:
            max_overflow = max(0, engine.max_overflow)
        if any(v is not None for v in given):
            if pool_size is None:
                raise ConfigError("--processes/--max-overflow need --pool-size (or --engine) for pool sizing")
            sizing = ps.Sizing(processes or 1, pool_size, max_overflow or 0)

    options = {"connect_timeout": connect_timeout, "recycle_s": recycle}
    json_doc = report_line_json if watch else to_json  # --watch --json: the report is the stream's last line
    report = ps.Report(snapshot=None, findings=[], engine=engine, sizing=sizing, target=parsed.masked())
    leak: list[Any] = []
    try:
        if watch:
            def progress(snap: ps.Snapshot) -> None:
                say(dump_json(sample_json(snap), compact=True) if as_json else sample_text(snap))

            snaps, ended = ps.watch(parsed, samples=samples, interval_s=interval, on_sample=progress, **options)
            report.snapshot = snaps[-1]
            report.series = [ps.Point.of(s) for s in snaps]
            leak = ps.watch_findings(snaps, ps.LeakRule(min_climb=leak_min_climb))
            if ended is not None:  # the server went away mid-watch: keep the samples, say so, exit 4
                report.connected = False
                report.findings = sort_findings(ps.evaluate(report.snapshot, thresholds, sizing=sizing, engine=engine,
                                                            app_name=app_name) + leak + [
                    ps.unreachable_finding(ps.Unreachable(f"after {len(snaps)} samples: {ended.message}"))])
        else:
            report.snapshot = ps.take_snapshot(parsed, **options)
    except ps.SlotsFull as err:
        report.connected = False
        report.findings = [ps.slots_full_finding(err, parsed)]
    except ps.Unreachable as err:
        report.connected = False
        report.findings = [ps.unreachable_finding(err)]

    if report.connected:
        findings = ps.evaluate(report.snapshot, thresholds, sizing=sizing, engine=engine, app_name=app_name)
        report.findings = sort_findings(findings + leak + _pooler_findings(parsed, pgbouncer_url, connect_timeout))
    emit(report, to_text, json_doc, as_json=as_json, compact=watch, exit_code=report.exit_code)


def _pooler_findings(parsed: Any, pgbouncer_url: str | None, connect_timeout: int) -> list[Any]:
    """A pooled URL said as such; with --pgbouncer-url, the pooler's own pools (one console connection)."""
    from neondoctor.pool_stats.pooler import PoolerWatch, pooled_findings
    from neondoctor.url import parse_url

    pools = None
    if pgbouncer_url:
        watch = PoolerWatch(parse_url(pgbouncer_url), connect_timeout=connect_timeout)
        try:
            pools = watch.pools()
        finally:
            watch.close()
    return pooled_findings(parsed, pools)


from neondoctor.cli.pool_stats_sub_cmd import record, report, serve  # noqa: E402  (click only; no heavy import)

pool_stats.add_command(record)
pool_stats.add_command(report)
pool_stats.add_command(serve)
