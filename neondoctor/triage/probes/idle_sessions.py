"""Sessions sitting idle (or idle in a transaction) on the server, by application.

Other roles' sessions show state NULL to an unprivileged role: those are reported as not visible.
"""

from __future__ import annotations

from typing import Any

from neondoctor.connect import APPLICATION_NAME
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

# pg_stat_activity.state values
STATES = ("active", "idle", "idle in transaction", "idle in transaction (aborted)", "fastpath function call",
          "disabled")

IDLE_SQL = """
SELECT coalesce(nullif(application_name, ''), '(unnamed)'), usename, count(*),
       max(extract(epoch FROM now() - state_change))::int
  FROM pg_stat_activity
 WHERE state = %s AND pid <> pg_backend_pid() AND application_name <> %s
   AND now() - state_change >= make_interval(secs => %s)
 GROUP BY 1, 2 ORDER BY 3 DESC, 1
"""
HIDDEN_SQL = ("SELECT count(*) FROM pg_stat_activity "
              "WHERE usesysid IS NOT NULL AND datname IS NOT NULL AND state IS NULL")


def run(ctx: ProbeContext, params: dict[str, Any]) -> ProbeResult:
    state = params.get("state", "idle in transaction")
    min_seconds = float(params.get("min_seconds", 0))
    min_count = int(params.get("min_count", 1))
    conn, exc, why = attempt_connect(server_side(ctx))
    if why:
        return ProbeResult.inconclusive(why)
    if conn is None:
        return ProbeResult.inconclusive(f"could not connect to list sessions: {first_line(exc or Exception())}")
    try:
        rows = conn.query(IDLE_SQL, (state, APPLICATION_NAME, min_seconds))
        hidden = conn.scalar(HIDDEN_SQL)
    except Exception as exc2:
        return ProbeResult.inconclusive(f"could not read pg_stat_activity: {first_line(exc2)}")
    finally:
        close_quietly(conn)
    total = sum(r[2] for r in rows)
    detail = ", ".join(f"{app} (user {user}): {n}, oldest {age} s" for app, user, n, age in rows[:5])
    note = f"; {hidden} other session(s) not visible to this role (grant pg_read_all_stats)" if hidden else ""
    if total >= min_count:
        return ProbeResult.confirmed(f"{total} session(s) {state} for at least {min_seconds:g} s: {detail}{note}")
    if hidden:
        return ProbeResult.inconclusive(f"no visible session {state}{note}")
    return ProbeResult.ruled_out(f"no session {state} for {min_seconds:g} s or more")


PROBE = Probe(id="idle_sessions", summary="sessions idle or idle in transaction, by application", run=run,
              params={"state": Param(str, STATES, help="the session state to count (default idle in transaction)"),
                      "min_seconds": Param((int, float), help="only sessions in that state this long (default 0)"),
                      "min_count": Param(int, help="confirmed from this many sessions (default 1)")})
