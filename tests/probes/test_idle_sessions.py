"""idle_sessions: sessions sitting idle (or idle in a transaction) on the server, by application (lab PostgreSQL)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from neondoctor.lab.cluster import APP_DATABASE, APP_USER, LabCluster
from neondoctor.triage.probes.idle_sessions import PROBE

from .kit import closed_port, context, expect


@pytest.fixture
def idle_in_tx(lab_primary: LabCluster) -> Iterator[Any]:
    """open(user) -> the application name of a session of that user left idle in a transaction."""
    opened: list[Any] = []

    def open_session(user: str) -> str:
        app = f"probe-idle-{secrets.token_hex(3)}"
        conn = lab_primary.connect(user=user, database=APP_DATABASE, autocommit=False, application_name=app)
        with conn.cursor() as cur:
            cur.execute("SELECT 1")  # a transaction is open now, and nothing runs in it
        opened.append(conn)
        return app

    yield open_session
    for conn in opened:
        conn.close()


def test_a_session_idle_in_a_transaction_is_confirmed_by_application(lab_primary: LabCluster, idle_in_tx: Any) -> None:
    app = idle_in_tx(APP_USER)
    expect(PROBE.run(context(lab_primary.app_url()), {"state": "idle in transaction", "min_seconds": 0}),
           "confirmed", "session(s) idle in transaction for at least 0 s", f"{app} (user app): 1")


def test_none_long_enough_is_ruled_out(lab_primary: LabCluster, idle_in_tx: Any) -> None:
    idle_in_tx(APP_USER)
    # the superuser sees every session's state: nothing is hidden from it
    ctx = context(lab_primary.superuser_url())
    expect(PROBE.run(ctx, {"state": "idle in transaction", "min_seconds": 3600}), "ruled_out",
           "no session idle in transaction for 3600 s or more")
    expect(PROBE.run(ctx, {"state": "active", "min_count": 1000}), "ruled_out", "no session active")


def test_sessions_hidden_from_an_unprivileged_role_make_it_inconclusive(lab_primary: LabCluster,
                                                                         idle_in_tx: Any) -> None:
    idle_in_tx("postgres")  # another role's session: its state is NULL to the app role
    expect(PROBE.run(context(lab_primary.app_url()), {"state": "idle in transaction", "min_count": 1000}),
           "inconclusive", "not visible to this role (grant pg_read_all_stats)")


def test_no_server_is_inconclusive() -> None:
    expect(PROBE.run(context(f"postgresql://app@127.0.0.1:{closed_port()}/app?connect_timeout=3"), {}),
           "inconclusive", "could not connect to list sessions")
