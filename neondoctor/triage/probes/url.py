"""Is DATABASE_URL well formed, and does it avoid the URL mistakes SQLAlchemy and drivers reject?"""

from __future__ import annotations

from typing import Any

from neondoctor import drivers
from neondoctor.drivers import SSLMODES
from neondoctor.triage.probes.base import Param, Probe, ProbeContext, ProbeResult
from neondoctor.url import LIBPQ_PARAMS

CHECKS = ("parse", "params", "scheme", "asyncpg_ssl", "neon_ssl")


def run(ctx: ProbeContext, params: dict[str, Any]) -> ProbeResult:
    checks = params.get("checks") or list(CHECKS)
    if not ctx.database_url:
        return ProbeResult.inconclusive("no DATABASE_URL to audit")
    problems: list[str] = []
    if ctx.parsed is None:
        if "parse" in checks:
            return ProbeResult.confirmed(f"DATABASE_URL is malformed: {ctx.url_error}")
        return ProbeResult.inconclusive(f"DATABASE_URL cannot be parsed: {ctx.url_error}")
    url = ctx.parsed
    if "params" in checks and url.driver in (None, "psycopg2", "psycopg", "psycopg_async"):
        unknown = [k for k in url.query if k not in LIBPQ_PARAMS]
        if unknown:
            problems.append(f"libpq does not know the URL parameter(s) {', '.join(unknown)} "
                            "(invalid dsn: invalid connection option)")
        if url.query.get("sslmode", "prefer") not in SSLMODES:
            problems.append(f"sslmode={url.query['sslmode']!r} is not one of {', '.join(SSLMODES)}")
    if "scheme" in checks and url.dialect == "postgres":
        problems.append("the scheme is postgres://, which SQLAlchemy 1.4+ rejects "
                        "(NoSuchModuleError: Can't load plugin: sqlalchemy.dialects:postgres)")
    if "asyncpg_ssl" in checks and url.driver == "asyncpg":
        bad = drivers.asyncpg_rejected(url.query)
        if bad:
            problems.append(f"asyncpg is given libpq parameter(s) {', '.join(bad)}, which it does not accept "
                            "(TypeError: connect() got an unexpected keyword argument)")
    if "neon_ssl" in checks and url.is_neon and url.query.get("sslmode", url.query.get("ssl", "")) in (
            "disable", "allow"):
        problems.append("the host is Neon, which refuses connections without TLS, but sslmode disables it")
    if problems:
        return ProbeResult.confirmed("; ".join(problems))
    return ProbeResult.ruled_out(f"{url.masked()} is well formed")


PROBE = Probe(id="url", summary="DATABASE_URL is well formed (scheme, driver parameters)", run=run,
              params={"checks": Param(list, CHECKS, help="which audits to run (default all)")})
