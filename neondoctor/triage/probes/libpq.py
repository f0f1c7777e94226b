"""The libpq the URL's driver links (psycopg2 or psycopg 3): Neon needs SNI (libpq 14+) unless the
endpoint ID is passed another way. asyncpg does not use libpq."""

from __future__ import annotations

from typing import Any

from neondoctor import drivers
from neondoctor.drivers import libpq_text as _dotted
from neondoctor.triage.probes.base import Param, Probe, ProbeContext, ProbeResult, need_url


def run(ctx: ProbeContext, params: dict[str, Any]) -> ProbeResult:
    if (missing := need_url(ctx)) is not None:
        return missing
    url = ctx.parsed
    assert url is not None
    known = drivers.choose(url).driver
    if known is not None and known.family == "asyncpg":
        return ProbeResult.ruled_out("asyncpg speaks the protocol itself: no libpq involved (it sends SNI)")
    family = known.family if known is not None and known.libpq and drivers.installed(known.family) else "psycopg2"
    version = drivers.libpq_version(family)
    if version is None:
        return ProbeResult.inconclusive(f"{family} is not importable: cannot tell which libpq it links")
    minimum = params.get("min_version")
    if minimum is not None:
        if version < minimum:
            return ProbeResult.confirmed(f"{family} links libpq {_dotted(version)}, older than the {_dotted(minimum)} "
                                         "this needs")
        return ProbeResult.ruled_out(f"libpq {_dotted(version)} (at least {_dotted(minimum)})")
    if not url.is_neon:
        return ProbeResult.ruled_out(f"libpq {_dotted(version)}; the host is not Neon, so SNI is not needed")
    endpoint_given = "endpoint" in url.query.get("options", "") or (url.password or "").startswith("endpoint=")
    if version < 140000 and not endpoint_given:
        return ProbeResult.confirmed(f"libpq {_dotted(version)} sends no SNI (needs 14+) and the URL does not pass "
                                     "options=endpoint%3D<endpoint-id>: Neon cannot tell which endpoint you want")
    return ProbeResult.ruled_out(f"libpq {_dotted(version)} sends SNI" if version >= 140000
                                 else "the endpoint ID is passed in options")


PROBE = Probe(id="libpq", summary="libpq version (SNI for Neon, or a given minimum)", run=run,
              params={"min_version": Param(int, help="libpq version number, e.g. 140000 for 14.0")})
