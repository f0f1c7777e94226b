"""`neondoctor latency` against real lab clusters, a black-holed socket and a closed port."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from neondoctor.lab.cluster import LabSpec, free_port
from neondoctor.latency.measure import percentile

SECRET = "Lat3ncy-Pw-q8Zr"  # distinctive, so its absence from output means something


@pytest.fixture
def latency_url(lab_primary) -> str:  # type: ignore[no-untyped-def]
    role = "latency_user"
    if not lab_primary.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)):
        lab_primary.create_role(role, SECRET)
    return lab_primary.url(user=role, password=SECRET, database="postgres")


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A local socket that completes the TCP handshake (kernel backlog) and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


def _assert_clean(result) -> None:  # type: ignore[no-untyped-def]
    assert SECRET not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_breakdown_json_has_every_stage(cli, latency_url) -> None:  # type: ignore[no-untyped-def]
    result = cli("latency", "--rounds", "3", "--json", env={"DATABASE_URL": latency_url})
    assert result.returncode == 0, result.stderr
    _assert_clean(result)
    doc = json.loads(result.stdout)
    stages = doc["stages"]
    for key in ("dns", "tcp", "connect", "first_query", "pooled", "pooled_pre_ping", "new_connection"):
        assert stages[key]["median_ms"] > 0, key
        assert stages[key]["p10_ms"] <= stages[key]["median_ms"] <= stages[key]["p90_ms"], key
    assert stages["connect"]["n"] == 3
    assert stages["pooled"]["n"] == 15
    # The shared lab has ssl=off: the server answers N, and the stage says so instead of a number.
    assert doc["tls"] == "not offered"
    assert stages["tls"]["median_ms"] is None and "not offered" in stages["tls"]["note"]
    assert stages["auth"]["median_ms"] >= 0
    # A connection per query must cost more than a checkout from a warm pool.
    assert doc["new_connection_vs_pooled"] > 1
    assert "****" in doc["target"]


def test_text_output_explains_the_ratio(cli, latency_url) -> None:  # type: ignore[no-untyped-def]
    result = cli("latency", "--rounds", "2", env={"DATABASE_URL": latency_url})
    assert result.returncode == 0, result.stderr
    _assert_clean(result)
    assert "a new connection costs" in result.stdout
    assert "× a pooled checkout here" in result.stdout
    for label in ("DNS lookup", "TCP connect", "TLS handshake", "startup + auth", "first query", "pre_ping"):
        assert label in result.stdout


@pytest.mark.slow
def test_tls_handshake_is_timed_when_offered(cli, make_cluster) -> None:  # type: ignore[no-untyped-def]
    cluster = make_cluster(LabSpec(ssl=True))
    cluster.create_role("tls_user", SECRET)
    url = cluster.url(user="tls_user", password=SECRET, database="postgres", query={"sslmode": "require"})
    result = cli("latency", "--rounds", "2", "--json", env={"DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    _assert_clean(result)
    doc = json.loads(result.stdout)
    assert doc["tls"] == "offered"
    assert doc["stages"]["tls"]["median_ms"] > 0


@pytest.mark.parametrize("query", ["", "?sslmode=disable"], ids=["sslrequest", "libpq-connect"])
def test_black_holed_host_is_unreachable_within_the_bound(cli, black_hole, query) -> None:  # type: ignore[no-untyped-def]
    url = f"postgresql://someone:{SECRET}@127.0.0.1:{black_hole}/db{query}"
    start = time.monotonic()
    result = cli("latency", "--rounds", "3", "--timeout", "2", env={"DATABASE_URL": url}, timeout=60)
    elapsed = time.monotonic() - start
    assert result.returncode == 4, result.stderr
    _assert_clean(result)
    assert result.stdout == ""
    assert "neondoctor: error:" in result.stderr
    # One step times out at 2 s (libpq may take one retry); never the default 5 s per round.
    assert elapsed < 12, elapsed


def test_closed_port_is_unreachable(cli) -> None:  # type: ignore[no-untyped-def]
    url = f"postgresql+psycopg2://someone:{SECRET}@127.0.0.1:{free_port()}/db"
    result = cli("latency", env={"DATABASE_URL": url})
    assert result.returncode == 4
    _assert_clean(result)
    assert "TCP connect" in result.stderr and "refused" in result.stderr.lower()


def test_wrong_password_is_unreachable_and_redacted(cli, lab_primary) -> None:  # type: ignore[no-untyped-def]
    url = lab_primary.url(user="app", password=SECRET)
    result = cli("latency", "--rounds", "1", env={"DATABASE_URL": url})
    assert result.returncode == 4
    _assert_clean(result)
    assert "password authentication failed" in result.stderr


def test_unresolvable_host_is_unreachable(cli) -> None:  # type: ignore[no-untyped-def]
    url = f"postgresql://someone:{SECRET}@no-such-host.invalid:5432/db"
    result = cli("latency", env={"DATABASE_URL": url})
    assert result.returncode == 4
    _assert_clean(result)
    assert "DNS lookup of no-such-host.invalid" in result.stderr


@pytest.mark.parametrize(
    ("env", "needle"),
    [({}, "DATABASE_URL is not set"), ({"DATABASE_URL": "mysql://u@h/db"}, "not PostgreSQL")],
)
def test_configuration_errors_exit_2(cli, env, needle) -> None:  # type: ignore[no-untyped-def]
    result = cli("latency", env=env)
    assert result.returncode == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_rounds_must_be_positive(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("latency", "--rounds", "0")
    assert result.returncode == 2


def test_percentile() -> None:
    assert percentile([3.0], 90) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0, 1.0, 3.0], 10) == pytest.approx(1.4)
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 90) == pytest.approx(4.6)


def test_breakdown_on_every_server_version(cli, lab) -> None:  # type: ignore[no-untyped-def]
    url = lab.url(driver=None)  # a bare postgresql://: neondoctor's engines use psycopg2 for it
    result = cli("latency", "--rounds", "1", "--json", env={"DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert lab.state.app_password not in result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["stages"]["pooled_pre_ping"]["median_ms"] > 0
    assert doc["stages"]["connect"]["median_ms"] > 0
