"""auth: does a real connection with DATABASE_URL's credentials get past authentication? (lab PostgreSQL)"""

from __future__ import annotations

from neondoctor.lab.cluster import LabCluster
from neondoctor.triage.probes.auth import PROBE

from .kit import closed_port, context, expect


def test_the_right_password_is_ruled_out(lab_primary: LabCluster) -> None:
    expect(PROBE.run(context(lab_primary.app_url()), {}), "ruled_out", "connected and authenticated as 'app'")


def test_a_wrong_password_is_confirmed_without_showing_it(lab_primary: LabCluster) -> None:
    wrong = "-".join(["not", "the", "app", "pw", "7Qz"])
    evidence = expect(PROBE.run(context(lab_primary.app_url(password=wrong)), {}), "confirmed",
                      "the server rejected the login", 'password authentication failed for user "app"')
    assert wrong not in evidence and lab_primary.state.app_password not in evidence


def test_no_server_or_no_url_is_inconclusive() -> None:
    expect(PROBE.run(context(f"postgresql://app@127.0.0.1:{closed_port()}/app?connect_timeout=3"), {}),
           "inconclusive", "the connection failed before authentication could be judged (network)")
    expect(PROBE.run(context(None), {}), "inconclusive", "DATABASE_URL is not set")
