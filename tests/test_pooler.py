"""Transaction-mode poolers: a real PgBouncer in front of the lab PostgreSQL, each fault end to end.

The fault definitions are the ones `neondoctor lab demo` runs (neondoctor.lab.demo_pooler): one list,
two consumers. Without PgBouncer these tests skip locally with how to install it; in CI (.ci/run
installs it) a missing PgBouncer is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from neondoctor import pooler
from neondoctor.lab.cluster import LabCluster
from neondoctor.lab.demo import APP_SOURCE, DEMO_SPEC, pooler_scenarios, run_scenario
from neondoctor.lab.demo_pooler import POOLER_SPEC
from neondoctor.triage.probes import app_settings
from neondoctor.triage.probes.base import ProbeContext
from neondoctor.triage.probes.pooler import run as pooler_probe
from neondoctor.triage.runbook import load_runbooks
from neondoctor.url import parse_url
from tests.conftest import pooled_cluster, require_pgbouncer

SCENARIOS = pooler_scenarios()


@pytest.fixture(scope="module")
def pooled_lab(primary_install: Any) -> Iterator[LabCluster]:
    with pooled_cluster(DEMO_SPEC, POOLER_SPEC, primary_install) as cluster:
        yield cluster


@pytest.mark.parametrize(("scenario", "why"), SCENARIOS, ids=[f"{s.runbook_id}:{s.expected_step}" for s, _ in SCENARIOS])
def test_pooler_fault_is_confirmed(pooled_lab: LabCluster, scenario: Any, why: str | None, tmp_path: Path) -> None:
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    (tmp_path / "app.py").write_text(APP_SOURCE)
    outcome = run_scenario(pooled_lab, scenario, load_runbooks(), tmp_path)
    result = outcome.result
    assert result.runbook is not None and result.runbook.id == scenario.runbook_id, outcome.error
    assert (result.verdict.status, result.verdict.step.id) == ("confirmed", scenario.expected_step), \
        [(s.step.id, s.status, s.evidence) for s in result.steps]
    assert pooled_lab.state.app_password not in repr(result) + outcome.error


def test_same_message_two_causes_told_apart() -> None:
    """`server login has been failing` is one message for two causes: the walk asks the server."""
    steps = [s.expected_step for s, _ in SCENARIOS if s.runbook_id == "pooler-server-login"]
    assert steps == ["server-unreachable", "server-rejects-credentials"]


def test_pooler_is_told_from_postgres(pooled_lab: LabCluster) -> None:
    pooled = ProbeContext(parsed=parse_url(pooled_lab.pooler().url()), timeout=5)
    direct = ProbeContext(parsed=parse_url(pooled_lab.app_url()), timeout=5)
    seen, plain = pooler_probe(pooled, {"check": "pooled"}), pooler_probe(direct, {"check": "pooled"})
    assert seen.status == "confirmed" and "PgBouncer" in seen.evidence
    assert plain.status == "ruled_out" and 'database "pgbouncer" does not exist' in plain.evidence
    # the client limit is not reached now: ruled out, not guessed
    assert pooler_probe(pooled, {"check": "client_limit"}).status == "ruled_out"


def test_admin_console_and_files(pooled_lab: LabCluster) -> None:
    bouncer = pooled_lab.pooler()
    pools = bouncer.show("POOLS")
    assert {"database", "user", "cl_waiting", "sv_active", "maxwait"} <= set(pools[0])
    config = {row["key"]: row["value"] for row in bouncer.show("CONFIG")}
    assert config["pool_mode"] == "transaction"
    assert config["default_pool_size"] == str(POOLER_SPEC.default_pool_size)
    assert config["query_wait_timeout"] == str(POOLER_SPEC.query_wait_timeout)
    # SCRAM secrets only: no file of the pooler holds a password in plain text
    for path in bouncer.run_dir.iterdir():
        text = path.read_text(errors="replace")
        assert pooled_lab.state.app_password not in text and pooled_lab.state.superuser_password not in text
        if path.name in ("userlist.txt", "pgbouncer.ini"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
    if os.geteuid() == 0:  # PgBouncer refuses root; the lab runs it as the server user
        pid = int((bouncer.run_dir / "pgbouncer.pid").read_text())
        assert Path(f"/proc/{pid}").stat().st_uid != 0


def test_lab_up_pooler_cli(cli: Any, tmp_path: Path) -> None:
    require_pgbouncer()
    lab_dir = tmp_path / "lab"
    up = cli("lab", "up", "--pooler", "--dir", str(lab_dir), "--max-connections", "20")
    try:
        assert up.returncode == 0, up.stderr
        assert "PgBouncer" in up.stdout and "DATABASE_URL_UNPOOLED=" in up.stdout and "(pooled)" in up.stdout
        env = (lab_dir / ".env").read_text()
        assert "DATABASE_URL=" in env and "DATABASE_URL_UNPOOLED=" in env
        assert stat.S_IMODE((lab_dir / ".env").stat().st_mode) == 0o600
        password = env.split("DATABASE_URL=", 1)[1].split(":", 2)[2].split("@", 1)[0]
        assert password and password not in up.stdout + up.stderr
        cluster = LabCluster.load(lab_dir)
        run_dir = cluster.pooler().run_dir
        assert cluster.pooler().is_running()
    finally:
        down = cli("lab", "down", "--dir", str(lab_dir))
    assert down.returncode == 0, down.stderr
    assert not lab_dir.exists() and not run_dir.exists()


# ------------------------------------------------------------------------------- no server needed


@pytest.mark.parametrize(("options", "untracked"), [
    ("-c%20statement_timeout%3D5000", ["statement_timeout=5000"]),
    ("endpoint%3Dep-cool-darkness-123456", []),
    ("-c timezone=UTC -c application_name=web", []),
    ("--search_path=app -c jit=off", ["search_path=app", "jit=off"]),
])
def test_untracked_startup_parameters(options: str, untracked: list[str]) -> None:
    parsed = parse_url(f"postgresql+psycopg2://u@h:6432/d?options={options}")
    assert pooler.untracked_startup_parameters(parsed) == untracked


def test_guess_and_neon_direct_host() -> None:
    neon = parse_url("postgresql://u@ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech/neondb")
    assert pooler.guess(neon).kind == "neon"
    assert pooler.neon_direct_host(neon.host or "") == "ep-cool-darkness-123456.us-east-2.aws.neon.tech"
    assert pooler.guess(parse_url("postgresql://u@db.example.com:6432/d")).kind == "pgbouncer-port"
    assert not pooler.guess(parse_url("postgresql://u@db.example.com:5432/d")).pooled


def test_app_settings_are_read_with_the_parser() -> None:
    found = app_settings.AppSettings()
    app_settings.scan_source('''
# create_async_engine(url, connect_args={"statement_cache_size": 0})  <- a comment does not count
"""prepare_threshold=None in a docstring does not count either"""
engine = create_async_engine(url, connect_args={"server_settings": {"jit": "off", "application_name": "web"}})
''', "app.py", found)
    assert found.cache_off == []
    assert found.startup == ["server_settings jit=off (app.py:4)"]
    app_settings.scan_source('engine = create_async_engine(url, connect_args={"statement_cache_size": 0})\n'
                             'conn = psycopg.connect(dsn, prepare_threshold=None)\n', "db.py", found)
    assert sorted(found.cache_off) == ["prepare_threshold=None (db.py:2)", "statement_cache_size=0 (db.py:1)"]


def test_dashed_parameter_names_are_not_folded() -> None:
    """PgBouncer compares names as sent: Neon refuses `client-encoding` though `client_encoding` is tracked."""
    parsed = parse_url("postgresql+psycopg2://u@h:6432/d?options=-c%20client-encoding%3DUTF8")
    assert pooler.untracked_startup_parameters(parsed) == ["client-encoding=UTF8"]


def test_pool_stats_through_the_pooler_shows_its_pools(pooled_lab: LabCluster, cli: Any) -> None:
    """pool-stats on a pooled URL says so, and with --pgbouncer-url shows the pooler's waiting clients."""
    import threading

    import psycopg2

    bouncer = pooled_lab.pooler()
    dsn = "postgresql://" + bouncer.url().split("://", 1)[1].split("?", 1)[0]
    held = []
    for _ in range(POOLER_SPEC.default_pool_size or 2):  # leaked transactions hold both server connections
        conn = psycopg2.connect(dsn, connect_timeout=5)
        try:
            conn.cursor().execute("SELECT 1")
        except psycopg2.Error as exc:
            raise AssertionError(f"{exc}; pooler log: {bouncer.log_tail(8)}; pools: {bouncer.show('POOLS')}") from None
        held.append(conn)
    waiter_error: list[BaseException] = []

    def wait_in_queue() -> None:
        try:
            psycopg2.connect(dsn, connect_timeout=5).cursor().execute("SELECT 1")
        except BaseException as exc:  # query_wait_timeout after 2 s: expected
            waiter_error.append(exc)

    waiter = threading.Thread(target=wait_in_queue, daemon=True)
    waiter.start()
    try:
        time.sleep(0.5)
        proc = cli("pool-stats", "--json", "--pgbouncer-url", bouncer.admin_url(),
                   env={"DATABASE_URL": pooled_lab.app_url()})
    finally:
        waiter.join(10)
        for conn in held:
            conn.close()
    assert proc.stdout, proc.stderr
    doc = json.loads(proc.stdout)
    found = {f["id"]: f for f in doc["findings"]}
    assert "pooler-waiting" in found, doc["findings"]
    assert found["pooler-waiting"]["severity"] == "warn" and "1 waiting" in found["pooler-waiting"]["message"]
    assert proc.returncode == 1
    for secret in (pooled_lab.state.app_password, pooled_lab.state.superuser_password):
        assert secret not in proc.stdout + proc.stderr


def test_pooled_url_is_said_as_such() -> None:
    from neondoctor.pool_stats.pooler import pooled_findings

    neon = parse_url("postgresql://u@ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech/neondb")
    assert [f.id for f in pooled_findings(neon, None)] == ["pooled-endpoint"]
    assert pooled_findings(parse_url("postgresql://u@db.example.com:5432/d"), None) == []
