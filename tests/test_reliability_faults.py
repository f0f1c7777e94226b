"""Faults: read-only guarantees and the server dying under neondoctor."""

from __future__ import annotations

import json
from typing import Any

from neondoctor.lab.cluster import LabCluster, LabSpec, wait_until

MONITOR = "ro_monitor"


def test_triage_probes_work_as_a_read_only_monitoring_role(make_cluster: Any, cli: Any) -> None:
    """Only CONNECT and pg_monitor, default_transaction_read_only=on: probes still reach a verdict."""
    cluster: LabCluster = make_cluster(LabSpec(max_connections=8, superuser_reserved_connections=3))
    password = cluster.create_role(MONITOR, grants=("pg_monitor",))
    cluster.execute(f"ALTER ROLE {MONITOR} SET default_transaction_read_only = on")
    cluster.execute(f"REVOKE ALL ON DATABASE neondoctor_lab FROM PUBLIC; GRANT CONNECT ON DATABASE neondoctor_lab TO {MONITOR}")
    holders = [cluster.connect(user="app", database="neondoctor_lab") for _ in range(4)]
    try:
        url = cluster.url(user=MONITOR, password=password)
        result = cli("triage", "--json", "--timeout", "3",
                     'FATAL:  remaining connection slots are reserved for non-replication superuser connections',
                     env={"DATABASE_URL": url})
        doc = json.loads(result.stdout)
        assert doc["runbook"]["id"] == "slot-exhaustion"
        assert doc["verdict"]["status"] in ("confirmed", "inconclusive", "all_ruled_out"), doc["verdict"]
        evidence = " ".join(s["evidence"] for s in doc["steps"])
        assert "read-only transaction" not in evidence
        assert "permission denied" not in evidence

        stats = cli("pool-stats", "--json", env={"DATABASE_URL": url})
        assert stats.returncode in (0, 1), stats.stderr
        assert json.loads(stats.stdout)["server"]["in_use"] >= 4
    finally:
        for conn in holders:
            conn.close()


def test_probes_write_nothing(lab_primary: LabCluster, cli: Any) -> None:
    """Diagnostics are read-only: the database's write counters do not move during a triage walk."""
    def writes() -> int:
        lab_primary.execute("SELECT pg_stat_clear_snapshot()")
        rows = lab_primary.execute(
            "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database "
            "WHERE datname = 'neondoctor_lab'")
        return int(rows[0][1])

    before = writes()
    for text in ("sorry, too many clients already", "server closed the connection unexpectedly",
                 'FATAL:  password authentication failed for user "app"'):
        cli("triage", "--timeout", "3", text, env={"DATABASE_URL": lab_primary.app_url()})
    cli("pool-stats", env={"DATABASE_URL": lab_primary.app_url()})
    assert writes() == before

    # Control: the counter does see a write, so the equality above could have failed.
    conn = lab_primary.connect(user="app", database="neondoctor_lab")
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE probe_control (x int); INSERT INTO probe_control VALUES (1)")
    conn.close()
    assert wait_until(lambda: writes() > before, timeout=10)
