"""database: does the database named in DATABASE_URL exist? (lab PostgreSQL)"""

from __future__ import annotations

from neondoctor.lab.cluster import LabCluster
from neondoctor.triage.probes.database import PROBE

from .kit import closed_port, context, expect


def test_an_existing_database_is_ruled_out(lab_primary: LabCluster) -> None:
    expect(PROBE.run(context(lab_primary.app_url()), {}), "ruled_out", "database 'neondoctor_lab' exists")


def test_a_missing_database_is_confirmed_with_the_servers_words(lab_primary: LabCluster) -> None:
    expect(PROBE.run(context(lab_primary.app_url(database="no_such_db_probe")), {}), "confirmed",
           'database "no_such_db_probe" does not exist')


def test_another_failure_is_inconclusive(lab_primary: LabCluster) -> None:
    wrong = "-".join(["wrong", "db", "probe", "pw"])
    expect(PROBE.run(context(lab_primary.app_url(password=wrong)), {}), "inconclusive", "could not connect to check")
    expect(PROBE.run(context(f"postgresql://app@127.0.0.1:{closed_port()}/app?connect_timeout=3"), {}),
           "inconclusive", "could not connect to check")
