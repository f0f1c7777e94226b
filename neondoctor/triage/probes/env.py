"""Is DATABASE_URL set and loaded where neondoctor runs (environment or .env)?"""

from __future__ import annotations

from typing import Any

from neondoctor.triage.probes.base import Probe, ProbeContext, ProbeResult


def run(ctx: ProbeContext, params: dict[str, Any]) -> ProbeResult:
    if not ctx.database_url:
        return ProbeResult.confirmed(ctx.url_error or "DATABASE_URL is not set in the environment nor in a .env file")
    source = ctx.url_source or "environment"
    where = "set in the environment" if source == "environment" else f"loaded from {source}"
    return ProbeResult.ruled_out(f"DATABASE_URL is {where}")


PROBE = Probe(id="env", summary="DATABASE_URL is present and loaded", run=run)
