"""Server slot usage against what non-superusers may use: max_connections - superuser_reserved - reserved.

A connect failing with 53300 (too many clients / remaining slots reserved / too many connections
for role) confirms the cause by itself.
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

# Rows are counted rather than filtered on backend_type: unprivileged roles see NULL there for
# other roles' sessions; background processes have no usesysid.
SLOTS_SQL = """
SELECT current_setting('max_connections')::int,
       current_setting('superuser_reserved_connections')::int,
       coalesce(nullif(current_setting('reserved_connections', true), ''), '0')::int,
       (SELECT count(*) FROM pg_stat_activity
         WHERE backend_type = 'client backend'
            OR (backend_type IS NULL AND usesysid IS NOT NULL AND datname IS NOT NULL)),
       (SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user),
       (SELECT count(*) FROM pg_stat_activity WHERE usename = current_user),
       (SELECT datconnlimit FROM pg_database WHERE datname = current_database()),
       (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()),
       (SELECT string_agg(app || ' ' || n, ', ') FROM (
           SELECT coalesce(nullif(application_name, ''), '(unnamed)') AS app, count(*) AS n
             FROM pg_stat_activity WHERE usesysid IS NOT NULL
            GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3) top)
"""


def run(ctx: ProbeContext, params: dict[str, Any]) -> ProbeResult:
    threshold = float(params.get("threshold_pct", 90))
    conn, exc, why = attempt_connect(server_side(ctx))
    if why:
        return ProbeResult.inconclusive(why)
    if conn is None:
        assert exc is not None
        if classify_connect_error(exc) == "slots":
            return ProbeResult.confirmed(f"a new connection is refused for lack of slots: {first_line(exc)}")
        return ProbeResult.inconclusive(f"could not connect to count slots: {first_line(exc)}")
    try:
        row = conn.query(SLOTS_SQL)[0]
    except Exception as exc2:
        return ProbeResult.inconclusive(f"could not read slot usage: {first_line(exc2)}")
    finally:
        close_quietly(conn)
    max_conn, su_reserved, reserved, used, role_limit, role_used, db_limit, db_used, top = row
    available = max_conn - su_reserved - reserved
    head = (f"{used} of {available} non-superuser slots in use (max_connections {max_conn} - "
            f"superuser_reserved_connections {su_reserved} - reserved_connections {reserved}, this probe included)")
    if top:
        head += f"; by application: {top}"
    if role_limit is not None and role_limit >= 0 and role_used >= role_limit:
        return ProbeResult.confirmed(f"role connection limit reached: {role_used} of {role_limit}; {head}")
    if db_limit is not None and db_limit >= 0 and db_used >= db_limit:
        return ProbeResult.confirmed(f"database connection limit reached: {db_used} of {db_limit}; {head}")
    if available > 0 and used * 100 >= threshold * available:
        return ProbeResult.confirmed(head)
    return ProbeResult.ruled_out(head)


PROBE = Probe(id="slots", summary="server connection slots left for non-superusers", run=run,
              params={"threshold_pct": Param((int, float), help="confirmed from this share of slots in use (default 90)")})
