"""pooler: does the URL go through a transaction-mode pooler, and what does it allow?

Neon's pooler is told from its host name alone; otherwise a real PgBouncer (tests/probes/conftest.py)
and the lab PostgreSQL behind it answer the probe's one bounded connection.
"""

from __future__ import annotations

from typing import Any

import pytest

from neondoctor.lab.cluster import APP_DATABASE, APP_USER, LabCluster
from neondoctor.triage.probes.pooler import PROBE

from .kit import closed_port, context, expect

NEON_POOLED = "postgresql://app@ep-cool-1-pooler.us-east-2.aws.neon.tech/app?sslmode=require"


def test_a_neon_pooler_host_is_told_without_connecting() -> None:
    expect(PROBE.run(context(NEON_POOLED), {"check": "pooled"}), "confirmed", "is a Neon pooler endpoint (-pooler)",
           "PgBouncer in transaction mode")
    expect(PROBE.run(context(NEON_POOLED), {"check": "prepared_statements"}), "ruled_out",
           "Neon's pooler keeps protocol-level prepared statements")


def test_pgbouncer_is_told_from_postgresql(pgbouncer_lab: LabCluster) -> None:
    expect(PROBE.run(context(pgbouncer_lab.pooler().url()), {"check": "pooled"}), "confirmed",
           "this is PgBouncer")
    expect(PROBE.run(context(pgbouncer_lab.app_url()), {"check": "pooled"}), "ruled_out",
           "the URL connects to the server directly", 'database "pgbouncer" does not exist')


def test_prepared_statements_as_the_console_shows_them(pgbouncer_lab: LabCluster, no_prepared_evidence: str) -> None:
    # the superuser is PgBouncer's admin: SHOW VERSION and SHOW CONFIG tell
    admin = context(pgbouncer_lab.pooler().url(user="postgres"))
    expect(PROBE.run(admin, {"check": "prepared_statements"}), "confirmed", no_prepared_evidence,
           "the next transaction may run on another")
    # the app role is refused the console: the support cannot be read, and the probe says so
    expect(PROBE.run(context(pgbouncer_lab.pooler().url()), {"check": "prepared_statements"}), "inconclusive",
           "could not be read")


def test_the_pooler_client_limit(pgbouncer_lab: LabCluster) -> None:
    import psycopg2

    url = pgbouncer_lab.pooler().url()
    expect(PROBE.run(context(url), {"check": "client_limit"}), "ruled_out", "the pooler accepts new clients now")
    held: list[Any] = []
    try:
        for _ in range(6):  # max_client_conn
            held.append(psycopg2.connect(host="127.0.0.1", port=pgbouncer_lab.pooler().port, user=APP_USER,
                                         password=pgbouncer_lab.state.app_password, dbname=APP_DATABASE,
                                         connect_timeout=5))
        expect(PROBE.run(context(url), {"check": "client_limit"}), "confirmed", "(max_client_conn)",
               "the pooler's own client limit, not the server's slots")
    finally:
        for conn in held:
            conn.close()


@pytest.mark.parametrize("check", ["pooled", "prepared_statements"])
def test_nothing_to_ask_is_inconclusive(check: str) -> None:
    expect(PROBE.run(context(f"postgresql://app@127.0.0.1:{closed_port()}/app?connect_timeout=3"), {"check": check}),
           "inconclusive", "could not ask the pooler")
    expect(PROBE.run(context(None), {"check": check}), "inconclusive", "DATABASE_URL is not set")
