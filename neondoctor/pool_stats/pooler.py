"""The clients waiting in a PgBouncer in front of the server: its admin console's `SHOW POOLS`."""

from __future__ import annotations

import contextlib
from typing import Any

from neondoctor.findings import Finding
from neondoctor.url import ParsedUrl


class PoolerWatch:
    """Waiting clients of a PgBouncer admin console (`SHOW POOLS`), or None when it cannot be read.

    Optional and silent: a missing or unreachable pooler never stops a recording.
    """

    def __init__(self, parsed: ParsedUrl | None, connect_timeout: int = 3) -> None:
        self.parsed = parsed
        self.connect_timeout = connect_timeout
        self._conn: Any = None

    def pools(self) -> list[dict[str, Any]] | None:
        """SHOW POOLS as rows (the console's own `pgbouncer` pool left out), None when unreadable."""
        if self.parsed is None:
            return None
        import psycopg2

        from neondoctor import connect, drivers

        try:
            if self._conn is None:
                # The admin console speaks the simple protocol only: no transaction, no SET.
                # psycopg2 always: the console knows only libpq's simple query protocol.
                self._conn = psycopg2.connect(**drivers.connect_params(
                    self.parsed, "psycopg2", timeout=self.connect_timeout, application_name=connect.APPLICATION_NAME))
                self._conn.autocommit = True
            with self._conn.cursor() as cur:
                cur.execute("SHOW POOLS")
                names = [d[0] for d in cur.description]
                rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        except (psycopg2.Error, ValueError):
            self.close()
            return None
        return [r for r in rows if r.get("database") != "pgbouncer"]

    def waiting(self) -> int | None:
        rows = self.pools()
        return None if rows is None else sum(int(r.get("cl_waiting") or 0) for r in rows)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


def pooled_findings(parsed: ParsedUrl, pools: list[dict[str, Any]] | None) -> list[Finding]:
    """What a pooled URL changes in the reading of the slots, and the pooler's own pools when known."""
    from neondoctor import pooler

    seen = pooler.guess(parsed)
    out: list[Finding] = []
    if seen.pooled:
        out.append(Finding("pooled-endpoint", "info", (
            f"{seen.reason}: these slots are the server's, sampled through the pooler. Clients of a "
            f"transaction-mode pooler (Neon: up to {pooler.NEON_POOLER['max_client_conn']}) share its server "
            f"connections, default_pool_size per user/database pair (Neon: "
            f"{pooler.NEON_POOLER['default_pool_size'].split(',')[0]}); when they are all busy, clients queue "
            f"in the pooler and end in query_wait_timeout (Neon: {pooler.NEON_POOLER['query_wait_timeout']} s), "
            "not in these slots. Sample the direct URL for the server's view; --pgbouncer-url shows the pooler's")))
    for row in pools or []:
        waiting = int(row.get("cl_waiting") or 0)
        text = (f"pooler pool {row.get('database')}/{row.get('user')} ({row.get('pool_mode')}): "
                f"{row.get('cl_active')} clients active, {waiting} waiting (longest {row.get('maxwait')} s), "
                f"{row.get('sv_active')} server connections active, {row.get('sv_idle')} idle")
        out.append(Finding("pooler-waiting" if waiting else "pooler-pool", "warn" if waiting else "info",
                           text + ("; waiting clients mean every server connection of this pool is busy: shorter "
                                   "transactions, no idle-in-transaction sessions, or a bigger compute" if waiting
                                   else "")))
    return out
