"""tcp: does anything accept a TCP connection at host:port? Real sockets on this machine, no server."""

from __future__ import annotations

from neondoctor.triage.probes.tcp import PROBE
from neondoctor.triage.target import extract_target

from .kit import closed_port, context, expect


def test_a_listening_port_rules_it_out(blackhole_port: int) -> None:
    ctx = context(f"postgresql://app@127.0.0.1:{blackhole_port}/db")
    expect(PROBE.run(ctx, {}), "ruled_out", f"127.0.0.1:{blackhole_port} accepts TCP connections")


def test_a_refused_connection_is_confirmed() -> None:
    port = closed_port()
    evidence = expect(PROBE.run(context(f"postgresql://app@127.0.0.1:{port}/db"), {}), "confirmed",
                      f"127.0.0.1:{port} refused the connection")
    assert "nothing listens" in evidence


def test_the_errors_own_server_is_probed_when_the_url_names_another(blackhole_port: int) -> None:
    port = closed_port()
    ctx = context(f"postgresql://app@127.0.0.1:{port}/db")
    ctx.error_target = extract_target(f'connection to server at "127.0.0.1", port {blackhole_port} failed: '
                                      "Connection refused")
    ctx.target_differs = ("port",)
    expect(PROBE.run(ctx, {}), "ruled_out", f"127.0.0.1:{blackhole_port} (the error's server) accepts")


def test_without_a_url_or_over_a_unix_socket_it_is_inconclusive() -> None:
    expect(PROBE.run(context(None, url_error="DATABASE_URL is not set"), {}), "inconclusive",
           "cannot check without a usable DATABASE_URL")
    expect(PROBE.run(context("postgresql://app@/db?host=/var/run/postgresql"), {}), "inconclusive",
           "Unix socket")
