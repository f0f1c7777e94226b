"""Does the server end sessions left idle in a transaction, and who leaves them so, since when?

Reads `idle_in_transaction_session_timeout` (Neon sets 5 minutes) and the sessions idle in a
transaction now, by application and user with the oldest age, through the direct URL when the app
goes through a pooler. Confirmed when the server enforces the timeout: the error then means the
app held a transaction open longer than that (a leaked session or network calls inside a
transaction); `pool_pre_ping` cannot help, the leaked transaction is the cause.
"""

from __future__ import annotations

from typing import Any

from neondoctor.connect import APPLICATION_NAME
from neondoctor.triage.probes.base import (
    Probe,
    ProbeContext,
    ProbeResult,
    attempt_connect,
    close_quietly,
    first_line,
    server_side,
    session_setting,
)

SESSIONS_SQL = """
SELECT coalesce(nullif(application_name, ''), '(unnamed)'), coalesce(usename, '?'), count(*),
       max(extract(epoch FROM now() - state_change))::int
  FROM pg_stat_activity
 WHERE state = 'idle in transaction' AND pid <> pg_backend_pid() AND application_name <> %s
 GROUP BY 1, 2 ORDER BY 4 DESC, 1
"""


def run(ctx: ProbeContext, params: dict[str, Any]) -> ProbeResult:
    conn, exc, why = attempt_connect(server_side(ctx))
    if why:
        return ProbeResult.inconclusive(why)
    if conn is None:
        return ProbeResult.inconclusive(f"could not connect to read the setting: {first_line(exc or Exception())}")
    try:
        setting = str(session_setting(conn, "idle_in_transaction_session_timeout"))
        rows = conn.query(SESSIONS_SQL, (APPLICATION_NAME,))
    except Exception as exc2:
        return ProbeResult.inconclusive(f"could not read the setting: {first_line(exc2)}")
    finally:
        close_quietly(conn)
    now = ("; idle in a transaction now: " + ", ".join(f"{app} (user {user}): {n}, oldest {age} s"
                                                       for app, user, n, age in rows[:5])) if rows else \
        "; no session is idle in a transaction now"
    if setting in ("0", "0ms", ""):
        return ProbeResult.ruled_out(f"idle_in_transaction_session_timeout is off for this role and database{now}")
    return ProbeResult.confirmed(f"the server ends any session idle in a transaction for {setting} "
                                 f"(idle_in_transaction_session_timeout){now}")


PROBE = Probe(id="idle_in_transaction", summary="idle-in-transaction timeout and who is idle in a transaction",
              run=run, params={})
