from neondoctor.lab.cluster import LabCluster, LabSpec


def test_lab_cluster_runs_scram_and_app_role(lab: LabCluster) -> None:
    rows = lab.execute("SHOW password_encryption")
    assert rows == [("scram-sha-256",)]
    conn = lab.connect(user="app", database="neondoctor_lab")
    with conn.cursor() as cur:
        cur.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cur.fetchone() == ("app", False)
    conn.close()


def test_fault_spec_tiny_max_connections(make_cluster) -> None:  # type: ignore[no-untyped-def]
    cluster: LabCluster = make_cluster(LabSpec(max_connections=5, superuser_reserved_connections=2))
    assert cluster.execute("SHOW max_connections") == [("5",)]
    cluster.stop()
    assert not cluster.is_running()
    cluster.start()
    assert cluster.is_running()
