"""Behind a pooler, why can the pooler not log in to the server: no route, or no credentials?

PgBouncer's `server login has been failing, try again later (server_login_retry)` repeats the last
failure of its own login to the server, whether it could not connect or could not authenticate.
This probe asks the server directly (DATABASE_URL_UNPOOLED, --direct-url, or Neon's host without
`-pooler`) with one bounded connection and tells which.

check=reach  confirmed when the server itself cannot be reached (down, refused, unresolvable)
check=auth   confirmed when the server rejects the credentials
"""

from __future__ import annotations

from typing import Any

from neondoctor.connect import classify_connect_error
from neondoctor.triage.probes.base import (
    Param,
    Probe,
    ProbeContext,
    ProbeResult,
    attempt_connect,
    close_quietly,
    first_line,
    server_side,
)

CHECKS = ("reach", "auth")


def run(ctx: ProbeContext, params: dict[str, Any]) -> ProbeResult:
    check = params.get("check", "reach")
    if ctx.direct is None:
        return ProbeResult.inconclusive("the server behind the pooler is unknown: set DATABASE_URL_UNPOOLED "
                                        "(or pass --direct-url) to the direct URL")
    conn, exc, why = attempt_connect(server_side(ctx))
    if why:
        return ProbeResult.inconclusive(why)
    where = f"the server directly ({ctx.direct_source or 'direct URL'})"
    if conn is not None:
        close_quietly(conn)
        return ProbeResult.ruled_out(f"{where} accepts this role now: the pooler's cached failure may be stale "
                                     "(it retries after server_login_retry seconds)")
    kind = classify_connect_error(exc or Exception())
    if check == "reach":
        if kind == "network":
            return ProbeResult.confirmed(f"{where} cannot be reached: {first_line(exc or Exception())}")
        return ProbeResult.ruled_out(f"{where} answers ({kind} error): {first_line(exc or Exception())}")
    if kind == "auth":
        return ProbeResult.confirmed(f"{where} rejects the credentials: {first_line(exc or Exception())}")
    return ProbeResult.ruled_out(f"{where} does not reject the credentials ({kind}): {first_line(exc or Exception())}")


PROBE = Probe(id="server_login", summary="behind a pooler: can the server be reached, does it take the credentials",
              run=run, params={"check": Param(str, CHECKS, help="what to confirm (default reach)")})
