"""`neondoctor latency`: parse options, measure (neondoctor.latency.measure), render, exit."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from neondoctor.cli import common_options, state
from neondoctor.cli.params import FiniteFloat


@click.command()
@click.option("--rounds", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="How many times each stage is measured (pooled checkouts: 5 per round).")
@click.option("--timeout", type=FiniteFloat(1, 60), default=5.0, show_default=True,
              help="Seconds each step may take before the host is declared unreachable.")
@click.option("--json", "as_json", is_flag=True, help="Print the measurements as JSON.")
@common_options
def latency(rounds: int, timeout: float, as_json: bool) -> None:
    """Where connection time goes: DNS, TCP, TLS, startup+auth, first query, pooled checkout.

    Measures DATABASE_URL over N rounds and prints medians with p10/p90, then what they mean.
    Exit 0 when measured, 2 on a configuration error, 4 when the server cannot be reached.

    Example: neondoctor latency --rounds 10
    """
    from neondoctor.latency.measure import measure
    from neondoctor.url import parse_url

    parsed = parse_url(state().database_url().url)
    progress = None
    if sys.stderr.isatty() and not as_json:
        def progress(msg: str) -> None:
            click.echo(f"\r  measuring: {msg} ", err=True, nl=False)

    report = measure(parsed, rounds=rounds, timeout=timeout, progress=progress)
    if progress:
        click.echo("\r" + " " * 40 + "\r", err=True, nl=False)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(render_text(report))


def render_text(report: Any) -> str:
    lines = [f"latency of {report.target} ({report.rounds} rounds; TLS: {report.tls})",
             f"driver: {report.driver} ({report.driver_reason})", ""]
    lines.append(f"  {'stage':<28} {'median':>10} {'p10':>10} {'p90':>10}  n")
    for stage in report.stages.values():
        if stage.samples:
            s = stage.summary()
            lines.append(f"  {stage.label:<28} {_ms(s['median_ms'])} {_ms(s['p10_ms'])} {_ms(s['p90_ms'])}  {s['n']}")
        elif stage.derived_ms is not None:
            lines.append(f"  {stage.label:<28} {_ms(stage.derived_ms)} {'':>10} {'':>10}  ~")
        else:
            lines.append(f"  {stage.label:<28} {'-':>10}   {stage.note or 'skipped'}")
    if report.meanings:
        lines += ["", "What it means:"]
        lines += [f"  - {m}" for m in report.meanings]
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return f"{'-' if value is None else f'{value:.2f} ms':>10}"
