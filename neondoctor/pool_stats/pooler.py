"""The clients waiting in a PgBouncer in front of the server: its admin console's `SHOW POOLS`."""

from __future__ import annotations

import contextlib
from typing import Any

from neondoctor.url import ParsedUrl


class PoolerWatch:
    """Waiting clients of a PgBouncer admin console (`SHOW POOLS`), or None when it cannot be read.

    Optional and silent: a missing or unreachable pooler never stops a recording.
    """

    def __init__(self, parsed: ParsedUrl | None, connect_timeout: int = 3) -> None:
        self.parsed = parsed
        self.connect_timeout = connect_timeout
        self._conn: Any = None

    def waiting(self) -> int | None:
        if self.parsed is None:
            return None
        import psycopg2

        from neondoctor import connect

        try:
            if self._conn is None:
                # The admin console speaks the simple protocol only: no transaction, no SET.
                self._conn = psycopg2.connect(**connect.connect_kwargs(self.parsed,
                                                                       connect_timeout=self.connect_timeout))
                self._conn.autocommit = True
            with self._conn.cursor() as cur:
                cur.execute("SHOW POOLS")
                names = [d[0] for d in cur.description]
                col = names.index("cl_waiting")
                return sum(int(r[col] or 0) for r in cur.fetchall())
        except (psycopg2.Error, ValueError):
            self.close()
            return None

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
