"""idle_in_transaction: does the server end sessions idle in a transaction, and who is idle so now?

The lab server runs without the timeout; a URL's `options=-c ...` sets it for the probe's session,
which is what a role or database setting (Neon's 5 minutes) looks like from the session.
"""

from __future__ import annotations

import secrets

from neondoctor.lab.cluster import APP_DATABASE, APP_USER, LabCluster
from neondoctor.triage.probes.idle_in_transaction import PROBE

from .kit import closed_port, context, expect


def _url(lab: LabCluster, timeout: str) -> str:
    return lab.app_url(query={"connect_timeout": "5", "options": f"-c idle_in_transaction_session_timeout={timeout}"})


def test_an_enforced_timeout_is_confirmed_with_who_is_idle_now(lab_primary: LabCluster) -> None:
    app = f"probe-iit-{secrets.token_hex(3)}"
    conn = lab_primary.connect(user=APP_USER, database=APP_DATABASE, autocommit=False, application_name=app)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        expect(PROBE.run(context(_url(lab_primary, "5min")), {}), "confirmed",
               "ends any session idle in a transaction for 5min", f"{app} (user app): 1")
    finally:
        conn.close()


def test_no_timeout_is_ruled_out(lab_primary: LabCluster) -> None:
    expect(PROBE.run(context(_url(lab_primary, "0")), {}), "ruled_out",
           "idle_in_transaction_session_timeout is off for this role and database")


def test_no_server_is_inconclusive() -> None:
    expect(PROBE.run(context(f"postgresql://app@127.0.0.1:{closed_port()}/app?connect_timeout=3"), {}),
           "inconclusive", "could not connect to read the setting")
