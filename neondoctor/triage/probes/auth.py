"""Does a real connection with DATABASE_URL's credentials get past authentication?"""

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
        user = ctx.parsed.username if ctx.parsed else None
        return ProbeResult.ruled_out(f"connected and authenticated as {user!r}: the credentials in DATABASE_URL work")
    assert exc is not None
    kind = classify_connect_error(exc)
    if kind == "auth":
        return ProbeResult.confirmed(f"the server rejected the login: {first_line(exc)}")
    return ProbeResult.inconclusive(f"the connection failed before authentication could be judged ({kind}): "
                                    f"{first_line(exc)}")


PROBE = Probe(id="auth", summary="a real connection authenticates", run=run)
