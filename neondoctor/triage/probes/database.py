"""Does the database named in DATABASE_URL exist?"""

from __future__ import annotations

from typing import Any

from neondoctor.connect import classify_connect_error
from neondoctor.triage.probes.base import (
    Probe,
    ProbeContext,
    ProbeResult,
    attempt_connect,
    close_quietly,
    first_line,
)


def run(ctx: ProbeContext, params: dict[str, Any]) -> ProbeResult:
    conn, exc, why = attempt_connect(ctx)
    if why:
        return ProbeResult.inconclusive(why)
    if conn is not None:
        close_quietly(conn)
        return ProbeResult.ruled_out(f"database {ctx.parsed.database if ctx.parsed else None!r} exists")
    assert exc is not None
    if classify_connect_error(exc) == "database":
        return ProbeResult.confirmed(first_line(exc))
    return ProbeResult.inconclusive(f"could not connect to check: {first_line(exc)}")


PROBE = Probe(id="database", summary="the database exists", run=run)
