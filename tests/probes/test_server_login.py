"""server_login: behind a pooler, can the server itself be reached, and does it take the credentials?

The server behind the pooler is the lab PostgreSQL, given as the direct URL (what DATABASE_URL_UNPOOLED says).
"""

from __future__ import annotations

import pytest

from neondoctor.lab.cluster import LabCluster
from neondoctor.triage.probes.server_login import PROBE
from neondoctor.url import parse_url

from .kit import closed_port, context, expect

POOLED = "postgresql://app@127.0.0.1:6432/app"


def _behind(direct: str) -> object:
    return context(POOLED, direct=parse_url(direct), direct_source="DATABASE_URL_UNPOOLED")


def test_a_server_that_accepts_the_role_rules_both_out(lab_primary: LabCluster) -> None:
    for check in ("reach", "auth"):
        expect(PROBE.run(_behind(lab_primary.app_url()), {"check": check}), "ruled_out",  # type: ignore[arg-type]
               "the server directly (DATABASE_URL_UNPOOLED) accepts this role now")


@pytest.mark.parametrize(("check", "status", "phrase"), [
    ("reach", "confirmed", "cannot be reached"),
    ("auth", "ruled_out", "does not reject the credentials (network)"),
])
def test_an_unreachable_server(check: str, status: str, phrase: str) -> None:
    direct = f"postgresql://app@127.0.0.1:{closed_port()}/app?connect_timeout=3"
    expect(PROBE.run(_behind(direct), {"check": check}), status, phrase)  # type: ignore[arg-type]


@pytest.mark.parametrize(("check", "status", "phrase"), [
    ("auth", "confirmed", "rejects the credentials"),
    ("reach", "ruled_out", "answers (auth error)"),
])
def test_a_server_that_rejects_the_password(lab_primary: LabCluster, check: str, status: str, phrase: str) -> None:
    wrong = "-".join(["stale", "pooler", "pw", "k2"])
    evidence = expect(PROBE.run(_behind(lab_primary.app_url(password=wrong)), {"check": check}),  # type: ignore[arg-type]
                      status, phrase, 'password authentication failed for user "app"')
    assert wrong not in evidence


def test_without_a_direct_url_it_is_inconclusive() -> None:
    expect(PROBE.run(context(POOLED), {}), "inconclusive", "set DATABASE_URL_UNPOOLED")
