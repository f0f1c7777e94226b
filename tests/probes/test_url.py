"""url: is DATABASE_URL well formed, free of the mistakes SQLAlchemy and the drivers reject?"""

from __future__ import annotations

from neondoctor.triage.probes.url import PROBE

from .kit import context, expect


def test_a_malformed_url_is_confirmed_and_unparsable_without_parse_is_inconclusive() -> None:
    ctx = context(None, url_error="DATABASE_URL has no scheme")
    ctx.database_url = "not a url"
    expect(PROBE.run(ctx, {}), "confirmed", "DATABASE_URL is malformed: DATABASE_URL has no scheme")
    expect(PROBE.run(ctx, {"checks": ("scheme",)}), "inconclusive", "cannot be parsed")
    expect(PROBE.run(context(None), {}), "inconclusive", "no DATABASE_URL to audit")


def test_each_mistake_is_confirmed() -> None:
    expect(PROBE.run(context("postgresql://app@db/app?sslmod=require"), {}), "confirmed",
           "libpq does not know the URL parameter(s) sslmod")
    expect(PROBE.run(context("postgresql://app@db/app?sslmode=requires"), {}), "confirmed",
           "sslmode='requires' is not one of")
    expect(PROBE.run(context("postgres://app@db/app"), {}), "confirmed", "the scheme is postgres://")
    expect(PROBE.run(context("postgresql+asyncpg://app@db/app?sslmode=require"), {}), "confirmed",
           "asyncpg is given libpq parameter(s) sslmode")
    expect(PROBE.run(context("postgresql://app@ep-cool-1.us-east-2.aws.neon.tech/app?sslmode=disable"), {}),
           "confirmed", "Neon, which refuses connections without TLS")


def test_checks_limit_what_is_audited() -> None:
    ctx = context("postgres://app@db/app?sslmod=require")
    expect(PROBE.run(ctx, {"checks": ("parse", "params")}), "confirmed", "sslmod")
    assert "postgres://" not in PROBE.run(ctx, {"checks": ("parse", "params")}).evidence
    expect(PROBE.run(ctx, {"checks": ("parse", "asyncpg_ssl")}), "ruled_out", "well formed")


def test_a_good_url_is_ruled_out_without_its_password() -> None:
    secret = "-".join(["pw", "Xq9", "url-probe"])
    evidence = expect(PROBE.run(context(f"postgresql+psycopg2://app:{secret}@db:5432/app?sslmode=require"), {}),
                      "ruled_out", "is well formed")
    assert secret not in evidence
