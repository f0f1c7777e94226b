"""`neondoctor latency`: parse options, measure (neondoctor.latency.measure), render, exit."""

from __future__ import annotations

import sys

import click

from neondoctor.cli import common_options, state
from neondoctor.cli.output import emit
from neondoctor.cli.params import FiniteFloat
from neondoctor.errors import EXIT_OK


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
    from neondoctor.render.latency import to_json, to_text
    from neondoctor.url import parse_url

    parsed = parse_url(state().database_url().url)
    progress = None
    if sys.stderr.isatty() and not as_json:
        def progress(msg: str) -> None:
            click.echo(f"\r  measuring: {msg} ", err=True, nl=False)

    report = measure(parsed, rounds=rounds, timeout=timeout, progress=progress)
    if progress:
        click.echo("\r" + " " * 40 + "\r", err=True, nl=False)
    emit(report, to_text, to_json, as_json=as_json, exit_code=EXIT_OK)
