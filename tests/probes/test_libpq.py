"""libpq: which libpq the URL's driver links (psycopg2 and psycopg 3 are installed in the test environment)."""

from __future__ import annotations

from neondoctor import drivers
from neondoctor.drivers import libpq_text
from neondoctor.triage.probes.libpq import PROBE

from .kit import context, expect

VERSION = drivers.libpq_version("psycopg2")


def test_asyncpg_uses_no_libpq() -> None:
    expect(PROBE.run(context("postgresql+asyncpg://app@db/app"), {}), "ruled_out", "no libpq involved")


def test_a_minimum_version_confirms_or_rules_out() -> None:
    assert VERSION is not None
    ctx = context("postgresql+psycopg2://app@db/app")
    expect(PROBE.run(ctx, {"min_version": VERSION + 1}), "confirmed",
           f"psycopg2 links libpq {libpq_text(VERSION)}, older than the {libpq_text(VERSION + 1)}")
    expect(PROBE.run(ctx, {"min_version": VERSION}), "ruled_out", f"libpq {libpq_text(VERSION)} (at least")


def test_sni_matters_only_for_neon() -> None:
    assert VERSION is not None
    expect(PROBE.run(context("postgresql://app@db/app"), {}), "ruled_out", "the host is not Neon")
    ctx = context("postgresql://app@ep-cool-1.us-east-2.aws.neon.tech/app")
    assert ctx.parsed is not None
    chosen = drivers.choose(ctx.parsed).driver
    version = drivers.libpq_version(chosen.family if chosen is not None else "psycopg2")
    assert version is not None
    # a libpq 14+ sends SNI (what every current wheel links); an older one would be confirmed
    expect(PROBE.run(ctx, {}), "ruled_out" if version >= 140000 else "confirmed", f"libpq {libpq_text(version)}")


def test_without_a_url_it_is_inconclusive() -> None:
    expect(PROBE.run(context(None), {}), "inconclusive", "DATABASE_URL is not set")
