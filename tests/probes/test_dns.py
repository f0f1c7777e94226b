"""dns: does the host name resolve? Names reserved never to resolve (.invalid, RFC 6761) and localhost."""

from __future__ import annotations

from neondoctor.triage.probes.dns import PROBE

from .kit import context, expect


def test_localhost_resolves() -> None:
    evidence = expect(PROBE.run(context("postgresql://app@localhost:5432/app"), {}), "ruled_out", "localhost resolves to")
    assert "127.0.0.1" in evidence or "::1" in evidence


def test_a_name_that_cannot_resolve_is_confirmed() -> None:
    expect(PROBE.run(context("postgresql://app@no-such-host.invalid/app"), {}), "confirmed",
           "'no-such-host.invalid'")


def test_no_host_name_or_no_url() -> None:
    expect(PROBE.run(context("postgresql://app@/db?host=/tmp"), {}), "ruled_out", "Unix socket")
    expect(PROBE.run(context(None), {}), "inconclusive", "DATABASE_URL is not set")
