"""`pool-stats record | report | serve` and `pool-stats --check`: parse, one core call, render, exit."""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar, NoReturn

import click

from neondoctor.cli import common_options, state
from neondoctor.cli.output import emit, finish, say
from neondoctor.errors import EXIT_OK, EXIT_UNREACHABLE, ConfigError


class Duration(click.ParamType):
    """Seconds, or a number with s/m/h/d: 30, 90s, 15m, 24h, 2d. Finite and positive."""

    name = "DURATION"
    UNITS: ClassVar[dict[str, int]] = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            seconds = float(value)
        else:
            m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smhd]?)\s*", str(value).lower())
            if not m:
                self.fail(f"{value!r} is not a duration like 0.5, 30s, 15m, 24h", param, ctx)
            seconds = float(m.group(1)) * self.UNITS[m.group(2)]
        if not math.isfinite(seconds) or seconds <= 0:
            self.fail(f"{value!r} must be a finite duration above 0", param, ctx)
        return seconds


def _parsed() -> Any:
    from neondoctor.url import parse_url

    return parse_url(state().database_url().url)


def _pooler(url: str | None) -> Any:
    from neondoctor.pool_stats.pooler import PoolerWatch
    from neondoctor.url import parse_url

    return PoolerWatch(parse_url(url)) if url else None  # parse_url registers its password for redaction


@click.command("record")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="The recording (SQLite). An existing recording of the same server is resumed.")
@click.option("--interval", type=Duration(), default="15s", show_default=True,
              help="Time between samples. On Neon, under 300 s keeps the compute awake (see below).")
@click.option("--duration", type=Duration(), default=None, metavar="DURATION",
              help="Stop after this long (e.g. 24h). Default: until Ctrl-C.")
@click.option("--respect-suspend/--keep-awake", default=None,
              help="Pause sampling while nothing else is busy so a Neon compute can scale to zero. "
                   "Default: on for Neon hosts, off elsewhere.")
@click.option("--quiet-pause", type=Duration(), default="15m", show_default=True,
              help="With --respect-suspend: how long to pause after a quiet sample.")
@click.option("--pgbouncer-url", default=None, metavar="URL", envvar="NEONDOCTOR_PGBOUNCER_URL",
              help="PgBouncer admin console (…/pgbouncer) to record waiting clients; skipped silently if unreachable.")
@click.option("--connect-timeout", type=click.IntRange(min=2, max=60), default=5, show_default=True, metavar="SECONDS")
@click.option("--quiet", "-q", "silent", is_flag=True, help="No line per sample on stderr.")
@common_options
def record(out: str, interval: float, duration: float | None, respect_suspend: bool | None, quiet_pause: float,
           pgbouncer_url: str | None, connect_timeout: int, silent: bool) -> None:
    """Record connection evidence to FILE: one row per sample, committed as it is taken.

    One read-only connection and one query per sample, as a snapshot. Survives the server going away
    (the outage is recorded as a gap) and Ctrl-C/SIGTERM (closes the file cleanly); a killed recorder
    loses at most one sample, and running the same command again resumes the file.

    \b
    Neon: a compute scales to zero after 5 minutes without a running query. Every sample is a query,
    so an --interval under 300 s keeps the compute active, and billed, for the whole recording
    (24 compute-hours a day at its size). --respect-suspend (default on *.neon.tech) pauses for
    --quiet-pause after a sample in which no other session is active or idle in transaction, with the
    connection closed, so a quiet compute can suspend; the next sample wakes it for ~5 minutes.

    Exit codes: 0 stopped by --duration or Ctrl-C, 2 configuration error.

    Example: neondoctor pool-stats record --out pool.db --interval 15s --duration 24h
    """
    import signal

    from neondoctor.pool_stats.record import record as do_record
    from neondoctor.pool_stats.store import Store
    from neondoctor.render.pool_stats import sample_text

    parsed = _parsed()
    respect = parsed.is_neon if respect_suspend is None else respect_suspend
    store = Store(out, target=parsed.masked(), interval_s=interval)

    def on_term(*_: Any) -> None:  # SIGTERM (systemd, docker stop) ends like Ctrl-C: the file is closed cleanly
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    def note(text: str) -> None:
        if not silent:
            say(text, err=True)

    note(f"recording to {out} every {interval:g}s{' (resuming)' if store.resumed else ''}"
        f"{'; respecting scale to zero' if respect else ''}; Ctrl-C stops")
    try:
        summary = do_record(parsed, store, interval_s=interval, duration_s=duration, respect_suspend=respect,
                            quiet_pause_s=quiet_pause, pooler=_pooler(pgbouncer_url),
                            on_sample=lambda snap: note(sample_text(snap)),
                            on_gap=lambda err: note(f"gap       {err.message}"),
                            connect_timeout=connect_timeout)
    finally:
        store.close()
    note(f"stopped ({summary.stopped_by}): {summary.samples} samples, {summary.gaps} gaps in {out}")
    finish(EXIT_OK)


@click.command("report")
@click.argument("recording", type=click.Path(dir_okay=False))
@click.option("--processes", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Worker processes of each application: recommended pool settings are per process.")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout instead of text.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False), default=None, metavar="OUT",
              help="Also write one self-contained HTML page with charts (needs neondoctor[charts]).")
@click.option("--leak-min-climb", type=click.IntRange(min=1), default=3, show_default=True, metavar="N",
              help="Slots an application must gain, active flat, to count as a leak episode.")
def report(recording: str, processes: int, as_json: bool, html_out: str | None, leak_min_climb: int) -> None:
    """Turn a recording into advice with its evidence.

    Per application and user: peak, p95 and p99 of concurrent connections and when; headroom against
    the slots; gaps; leak episodes; and pool_size/max_overflow per process for --processes N
    (start small at 3 + 5, grow only under observed pressure, never beyond the slots, leaks first).

    Exit codes: 0 no leak and every recommendation fits, 1 a leak episode, a pool that cannot fit or
    a moment the slots were full, 2 not a recording / configuration error.

    Example: neondoctor pool-stats report pool.db --processes 4 --html pool.html
    """
    from neondoctor.pool_stats import evidence, sizing, store
    from neondoctor.render.pool_stats_report import to_json, to_text

    meta = store.read_meta(recording)
    ev = evidence.build(store.read_rows(recording), target=meta.get("target", ""),
                        interval_s=float(meta.get("interval_s", "15")), min_climb=leak_min_climb)
    advice = sizing.advise(ev, processes)
    if html_out:
        from neondoctor.redaction import write_text
        from neondoctor.render.pool_stats_html import to_html

        write_text(html_out, to_html(advice))
    emit(advice, to_text, to_json, as_json=as_json, exit_code=advice.exit_code)


@click.command("serve")
@click.option("--port", type=click.IntRange(min=0, max=65535), required=True, metavar="N",
              help="Port for /metrics (0: any free port, printed on stderr).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--cache", "cache_s", type=click.FloatRange(min=0, max=60), default=2.0, show_default=True,
              metavar="SECONDS", help="Scrapes within this long reuse the last sample.")
@click.option("--pgbouncer-url", default=None, metavar="URL", envvar="NEONDOCTOR_PGBOUNCER_URL",
              help="PgBouncer admin console to export waiting clients; skipped silently if unreachable.")
@click.option("--connect-timeout", type=click.IntRange(min=2, max=60), default=5, show_default=True, metavar="SECONDS")
@common_options
def serve(port: int, host: str, cache_s: float, pgbouncer_url: str | None, connect_timeout: int) -> None:
    """Serve the current slot arithmetic in the Prometheus text format on /metrics.

    One connection, one bounded query per scrape (cached for --cache seconds). A server that cannot
    be sampled is `neondoctor_server_up 0`, not an HTTP error. On Neon every scrape is a query:
    a scrape interval under 5 minutes keeps the compute awake.

    Exit codes: 0 stopped with Ctrl-C/SIGTERM, 2 configuration error (port in use).

    Example: neondoctor pool-stats serve --port 9187
    """
    import signal

    from neondoctor.pool_stats.exporter import Exporter, make_server
    from neondoctor.render.pool_stats_check import prometheus_text

    parsed = _parsed()
    exporter = Exporter(parsed, prometheus_text, cache_s=cache_s, pooler=_pooler(pgbouncer_url),
                        connect_timeout=connect_timeout)
    try:
        server = make_server(exporter, host, port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

    def on_term(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    say(f"serving http://{host}:{server.server_address[1]}/metrics for {parsed.masked()}", err=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        exporter.close()
    finish(EXIT_OK)


def run_check(warn_pct: float, critical_pct: float, iit_warn: float, connect_timeout: int) -> NoReturn:
    """`pool-stats --check`: every outcome, a bad option included, maps onto 0/1/2/3."""
    from neondoctor import pool_stats as ps
    from neondoctor.errors import NeondoctorError
    from neondoctor.pool_stats.check import UNKNOWN, CheckResult, check, check_error
    from neondoctor.render.pool_stats_check import check_text

    try:
        thresholds = ps.Thresholds(warn_pct, critical_pct, iit_warn)
        thresholds.validate()
        result = check(ps.take_snapshot(_parsed(), connect_timeout=connect_timeout), thresholds)
    except NeondoctorError as err:
        result = check_error(err) if err.exit_code == EXIT_UNREACHABLE else CheckResult(UNKNOWN, err.message)
    emit(result, check_text, exit_code=result.status)  # the plugin exit table: pool_stats.check
