"""pool-stats against real PostgreSQL: slot arithmetic, attribution, visibility, slots full, leaks."""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from conftest import REPO, run_cli

from neondoctor import pool_stats as ps
from neondoctor.lab.cluster import LabCluster, LabSpec, find_installs, wait_until
from neondoctor.render.pool_stats import chart, sparkline, to_json, to_text
from neondoctor.url import parse_url

# ------------------------------------------------------------------------------ helpers


def pool_stats_cli(url: str, *args: str, timeout: float = 60, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli("pool-stats", *args, env={"DATABASE_URL": url}, timeout=timeout, cwd=cwd)


def as_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)


def finding(doc: dict[str, Any], fid: str) -> dict[str, Any] | None:
    return next((f for f in doc["findings"] if f["id"] == fid), None)


def app_row(doc: dict[str, Any], name: str) -> dict[str, Any]:
    rows = [r for r in doc["by_application"] if r["application_name"] == name]
    assert len(rows) == 1, doc["by_application"]
    return rows[0]


@contextlib.contextmanager
def held(cluster: LabCluster, n: int, app: str, *, user: str = "app", password: str | None = None,
         database: str = "neondoctor_lab") -> Iterator[list[Any]]:
    """n idle connections with application_name=app, closed afterwards."""
    conns: list[Any] = []
    try:
        for _ in range(n):
            conns.append(cluster.connect(user=user, password=password, database=database, application_name=app))
        yield conns
    finally:
        for c in conns:
            with contextlib.suppress(Exception):
                c.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def pg18_install() -> Any:
    for inst in find_installs():
        if inst.major >= 16:
            return inst
    return None


# ------------------------------------------------------------------------------ pure logic


def _doc(**over: Any) -> dict[str, Any]:
    doc = {
        "version": "16.2", "version_num": 160002, "max_connections": 100, "superuser_reserved_connections": 3,
        "reserved_connections": 2, "in_use": 10, "current_user": "app", "is_superuser": False,
        "read_all_stats": True, "self_pid": 1, "by_state": {"idle": 8, "active": 2},
        "groups": [{"dim": "application", "key": "web", "connections": 10, "active": 2, "idle": 8,
                    "idle_in_transaction": 0, "hidden": 0, "oldest_idle_s": 5.0,
                    "longest_idle_in_transaction_s": None, "idle_over_recycle": 0, "waiting_on_lock": 0}],
    }
    doc.update(over)
    return doc


def test_slot_arithmetic_subtracts_both_reserves() -> None:
    snap = ps.Snapshot.from_document(_doc())
    assert snap.server.available == 95
    assert snap.server.free == 85
    assert snap.server.usage_pct == pytest.approx(10.5, abs=0.1)
    pg15 = ps.Snapshot.from_document(_doc(reserved_connections=None))
    assert pg15.server.available == 97


def test_usage_thresholds_are_settable() -> None:
    snap = ps.Snapshot.from_document(_doc(in_use=80))  # 84.2 %
    sev = {f.id: f.severity for f in ps.evaluate(snap)}
    assert sev["slot-usage"] == "warn"
    sev = {f.id: f.severity for f in ps.evaluate(snap, ps.Thresholds(warn_pct=50, critical_pct=80))}
    assert sev["slot-usage"] == "critical"
    sev = {f.id: f.severity for f in ps.evaluate(snap, ps.Thresholds(warn_pct=90, critical_pct=95))}
    assert sev["slot-usage"] == "ok"


def test_sizing_fits_short_and_over() -> None:
    snap = ps.Snapshot.from_document(_doc())  # 95 available, 10 in use by "web"
    ok = ps.sizing_finding(snap, ps.Sizing(4, 5, 10))
    assert ok.severity == "ok" and "60" in ok.message
    short = ps.sizing_finding(snap, ps.Sizing(6, 5, 10))  # 90 > 85 left
    assert short.severity == "warn" and "5 short" in short.message
    assert ps.sizing_finding(snap, ps.Sizing(6, 5, 10), app_name="web").severity == "ok"
    over = ps.sizing_finding(snap, ps.Sizing(8, 5, 10))  # 120 > 95
    assert over.severity == "critical"
    assert "25 over" in over.message and "-pooler" in over.message and "<= 10 per process" in over.message


def _series(in_use: list[int], active: list[int]) -> list[ps.Point]:
    return [ps.Point(t=i * 0.5, in_use=u, active=a) for i, (u, a) in enumerate(zip(in_use, active, strict=True))]


def test_leak_detection_is_a_pure_function_over_samples() -> None:
    leak = ps.detect_leak(_series([2, 3, 4, 5, 6, 8], [1, 1, 0, 1, 1, 1]))
    assert leak is not None and leak.id == "leak-suspected" and leak.severity == "warn"
    assert "with" in leak.message and "in_use=[2, 3, 4, 5, 6, 8]" in leak.message
    # steady, busy-but-balanced, dropping, too short, climb with active following it
    assert ps.detect_leak(_series([5, 5, 5, 5, 5], [1, 1, 1, 1, 1])) is None
    assert ps.detect_leak(_series([5, 7, 5, 8, 5, 9], [1, 1, 1, 1, 1, 1])) is None
    assert ps.detect_leak(_series([2, 9], [0, 0])) is None
    assert ps.detect_leak(_series([2, 4, 6, 8, 10], [1, 3, 5, 7, 9])) is None
    assert ps.detect_leak(_series([2, 3, 4], [0, 0, 0]), ps.LeakRule(min_climb=3)) is None
    assert ps.detect_leak(_series([2, 3, 5], [0, 0, 0]), ps.LeakRule(min_climb=3)) is not None


def test_sparkline_and_chart() -> None:
    assert sparkline([0, 7], lo=0, hi=7) == "▁█"
    assert sparkline([3, 3, 3]) == "▁▁▁"
    assert sparkline([]) == ""
    lines = chart(_series([1, 2, 4, 8], [0, 0, 0, 0]))
    assert lines[0].split()[2] == "▂▃▅█" and "1 -> 8" in lines[0]


def test_connect_error_classification() -> None:
    full = ps.classify_connect_error(Exception(
        'connection to server at "h", port 5432 failed: FATAL:  remaining connection slots are reserved '
        "for non-replication superuser connections"))
    assert isinstance(full, ps.SlotsFull) and full.exit_code == 4
    assert full.message.startswith("remaining connection slots")
    assert isinstance(ps.classify_connect_error(Exception("FATAL:  sorry, too many clients already")), ps.SlotsFull)
    other = ps.classify_connect_error(Exception("timeout expired"))
    assert isinstance(other, ps.Unreachable) and other.exit_code == 4


# ------------------------------------------------------------------------------ real PostgreSQL


def test_leaky_application_is_attributed(lab: LabCluster) -> None:
    app = unique("leaky-app")
    with held(lab, 5, app):
        snap = ps.take_snapshot(parse_url(lab.app_url()), recycle_s=0.0)
        row = next(g for g in snap.by_application if g.key == app)
        assert (row.connections, row.idle, row.active, row.hidden) == (5, 5, 0, 0)
        assert row.idle_over_recycle == 5 and row.oldest_idle_s is not None
        assert snap.server.in_use >= 5
        assert all(g.key != "neondoctor" for g in snap.by_application), "own connection must be excluded"
        result = pool_stats_cli(lab.app_url(), "--json", "--recycle", "3600")
        doc = as_json(result)
        assert result.returncode == 0, result.stdout
        row = app_row(doc, app)
        assert (row["connections"], row["idle"], row["idle_in_transaction"]) == (5, 5, 0)
        assert doc["server"]["version"].split(".")[0] == str(lab.major)
        assert doc["server"]["available"] == 60 - 3  # the shared lab: max_connections=60, 3 reserved
        assert doc["server"]["free"] == doc["server"]["available"] - doc["server"]["in_use"]
        assert doc["visibility"]["self_excluded"] is True
        text = pool_stats_cli(lab.app_url())
        assert app in text.stdout and "own connection" in text.stdout

    def gone() -> bool:
        snap = ps.take_snapshot(parse_url(lab.app_url()))
        return all(g.key != app for g in snap.by_application)

    assert wait_until(gone, timeout=10), "closed sessions must disappear from the attribution"


def test_idle_in_transaction_session_is_found(lab: LabCluster) -> None:
    app = unique("tx-app")
    conn = lab.connect(user="app", database="neondoctor_lab", application_name=app, autocommit=False)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        time.sleep(0.3)
        result = pool_stats_cli(lab.app_url(), "--json", "--idle-in-transaction-warn", "0.1")
        doc = as_json(result)
        assert result.returncode == 1
        assert doc["by_state"]["idle in transaction"] >= 1
        assert app_row(doc, app)["idle_in_transaction"] == 1
        f = finding(doc, "idle-in-transaction")
        assert f and f["severity"] == "warn" and f"pid {pid}" in f["message"]
        assert any(s["pid"] == pid and s["state"] == "idle in transaction" for s in doc["sessions"])
        # Under the threshold it is information, not a warning.
        relaxed = as_json(pool_stats_cli(lab.app_url(), "--json", "--idle-in-transaction-warn", "3600"))
        assert finding(relaxed, "idle-in-transaction")["severity"] == "info"
    finally:
        conn.close()


def test_blocked_session_names_its_blocker(lab_primary: LabCluster) -> None:
    lab = lab_primary
    table = f"t_{secrets.token_hex(3)}"
    blocker = lab.connect(user="app", database="neondoctor_lab", autocommit=False)
    waiter = lab.connect(user="app", database="neondoctor_lab", application_name="waiter")
    try:
        with blocker.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (id int)")
            blocker.commit()
            cur.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            cur.execute("SELECT pg_backend_pid()")
            blocker_pid = cur.fetchone()[0]
        thread = threading.Thread(target=lambda: waiter.cursor().execute(f"SELECT * FROM {table}"), daemon=True)
        thread.start()
        time.sleep(0.5)
        doc = as_json(pool_stats_cli(lab.app_url(), "--json"))
        f = finding(doc, "blocked-sessions")
        assert f and f["severity"] == "warn"
        assert any(s["blocked_by"] == [blocker_pid] for s in doc["sessions"])
    finally:
        blocker.rollback()
        blocker.close()
        time.sleep(0.2)
        waiter.close()


def test_reserved_slots_subtracted_on_tiny_server(make_cluster: Any) -> None:
    cluster = make_cluster(LabSpec(max_connections=8, superuser_reserved_connections=3))
    with held(cluster, 2, "tiny"):
        doc = as_json(pool_stats_cli(cluster.app_url(), "--json"))
    server = doc["server"]
    assert (server["max_connections"], server["superuser_reserved_connections"]) == (8, 3)
    assert server["available"] == 5
    assert server["in_use"] == 2 and server["free"] == 3
    if cluster.major < 16:
        assert server["reserved_connections"] is None
    else:
        assert server["reserved_connections"] == 0


def test_reserved_connections_pg16_plus(make_cluster: Any) -> None:
    install = pg18_install()
    if install is None:
        pytest.skip("no PostgreSQL 16+ install")
    cluster = make_cluster(LabSpec(max_connections=8, superuser_reserved_connections=3, reserved_connections=2),
                           install)
    with held(cluster, 1, "tiny"):
        doc = as_json(pool_stats_cli(cluster.app_url(), "--json"))
    server = doc["server"]
    assert server["reserved_connections"] == 2
    assert server["available"] == 3 and server["in_use"] == 1 and server["free"] == 2
    assert "2 reserved_connections" in pool_stats_cli(cluster.app_url()).stdout


@pytest.mark.parametrize("newer", [False, True], ids=["primary", "pg16plus"])
def test_slots_full_is_the_finding_exit_4(make_cluster: Any, newer: bool) -> None:
    install = pg18_install() if newer else None
    if newer and install is None:
        pytest.skip("no PostgreSQL 16+ install")
    spec = LabSpec(max_connections=8, superuser_reserved_connections=3,
                   reserved_connections=1 if newer else 0)
    cluster = make_cluster(spec, install)
    conns: list[Any] = []
    try:
        with pytest.raises(psycopg2.OperationalError):
            for _ in range(20):  # fill every slot an ordinary role may take
                conns.append(cluster.connect(user="app", database="neondoctor_lab", application_name="hog"))
        assert len(conns) == 8 - 3 - spec.reserved_connections
        result = pool_stats_cli(cluster.app_url())
        assert result.returncode == 4, (result.stdout, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout
        assert "slots-full" in result.stdout and "remaining connection slots are reserved" in result.stdout
        assert "pg_terminate_backend" in result.stdout
        doc = as_json(pool_stats_cli(cluster.app_url(), "--json"))
        assert doc["connected"] is False and doc["findings"][0]["severity"] == "critical"
        # A superuser still gets in through the reserved slots and sees the hog.
        su = pool_stats_cli(cluster.superuser_url(), "--json")
        doc = as_json(su)
        assert su.returncode == 1
        assert doc["server"]["free"] == 0 and doc["server"]["usage_pct"] == 100.0
        assert app_row(doc, "hog")["connections"] == len(conns)
        assert finding(doc, "slot-usage")["severity"] == "critical"
        for out in (result.stdout, result.stderr, su.stdout, su.stderr):
            assert cluster.state.app_password not in out and cluster.state.superuser_password not in out
    finally:
        for c in conns:
            c.close()


def test_unprivileged_role_reports_hidden_sessions(lab: LabCluster) -> None:
    role = f"nopriv_{secrets.token_hex(3)}"
    password = f"Nopriv-{secrets.token_hex(8)}-pw"
    lab.create_role(role, password)
    app = unique("leaky-app")
    superuser = lab.connect()  # no application_name, bootstrap superuser: looks like autovacuum when hidden
    with held(lab, 4, app), contextlib.closing(superuser):
        result = pool_stats_cli(lab.url(user=role, password=password), "--json")
        doc = as_json(result)
        assert doc["visibility"]["full"] is False
        assert doc["visibility"]["hidden"] >= 4 and doc["by_state"]["hidden"] >= 4
        row = app_row(doc, app)  # application_name stays visible; the state does not
        assert (row["connections"], row["hidden"], row["idle"]) == (4, 4, 0)
        assert doc["server"]["in_use"] >= 4, "hidden sessions are still counted"
        f = finding(doc, "hidden-sessions")
        assert f and "pg_monitor" in f["message"]
        assert doc["visibility"]["hidden_maybe_background"] >= 1 and "autovacuum" in f["message"]
        text = pool_stats_cli(lab.url(user=role, password=password))
        assert "hidden" in text.stdout
        assert password not in result.stdout + result.stderr + text.stdout + text.stderr


def test_pg_monitor_role_with_read_only_default_sees_everything(lab: LabCluster) -> None:
    role = f"monitor_{secrets.token_hex(3)}"
    password = f"Monitor-{secrets.token_hex(8)}-pw"
    lab.create_role(role, password, grants=("pg_monitor",))
    lab.execute(f"ALTER ROLE {role} SET default_transaction_read_only = on")
    lab.execute(f"REVOKE ALL ON DATABASE neondoctor_lab FROM {role}")
    lab.execute(f"GRANT CONNECT ON DATABASE neondoctor_lab TO {role}")
    app = unique("leaky-app")
    with held(lab, 3, app):
        result = pool_stats_cli(lab.url(user=role, password=password), "--json")
        doc = as_json(result)
        assert result.returncode == 0, result.stdout
        assert doc["visibility"]["read_all_stats"] is True and doc["visibility"]["hidden"] == 0
        assert app_row(doc, app)["idle"] == 3
        assert password not in result.stdout + result.stderr


def _watch(url: str, samples: int = 8, interval: float = 0.25) -> subprocess.Popen[str]:
    env = {k: v for k, v in __import__("os").environ.items() if k != "DATABASE_URL"}
    env.update({"DATABASE_URL": url, "NO_COLOR": "1"})
    return subprocess.Popen(
        [sys.executable, "-m", "neondoctor", "pool-stats", "--watch", "--interval", str(interval),
         "--samples", str(samples)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def test_watch_flags_a_leak_when_connections_climb_and_active_stays_flat(lab: LabCluster) -> None:
    app = unique("leaky-app")
    proc = _watch(lab.app_url())
    conns: list[Any] = []
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if len(conns) < 12:
                conns.append(lab.connect(user="app", database="neondoctor_lab", application_name=app))
            time.sleep(0.15)
        out, err = proc.communicate(timeout=30)
    finally:
        for c in conns:
            c.close()
    assert "Traceback" not in err
    assert proc.returncode == 1, out
    assert "leak-suspected" in out and "not closed with `with`" in out
    assert f"{app} +" in out, "the application that grew is named"
    assert "in use" in out and any(ch in out for ch in "▂▃▄▅▆▇")


def test_watch_steady_server_raises_no_leak(lab: LabCluster) -> None:
    with held(lab, 4, unique("steady-app")):
        proc = _watch(lab.app_url(), samples=6, interval=0.2)
        out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err
    assert proc.returncode == 0, out
    assert "leak-suspected" not in out
    assert out.count("sample ") == 6


def test_watch_json_carries_the_series(lab_primary: LabCluster) -> None:
    result = pool_stats_cli(lab_primary.app_url(), "--json", "--watch", "--interval", "0.1", "--samples", "3")
    assert "Traceback" not in result.stderr
    doc = json.loads(result.stdout.splitlines()[-1])  # JSON lines: one per sample, then the report
    assert doc["kind"] == "report" and len(doc["watch"]["samples"]) == 3
    assert {"t", "in_use", "active", "idle", "idle_in_transaction"} <= set(doc["watch"]["samples"][0])


def test_pool_sizing_against_live_slots(lab_primary: LabCluster) -> None:
    url = lab_primary.app_url()
    fits = pool_stats_cli(url, "--json", "--processes", "2", "--pool-size", "5", "--max-overflow", "5")
    assert fits.returncode == 0
    assert finding(as_json(fits), "pool-sizing")["severity"] == "ok"
    over = pool_stats_cli(url, "--processes", "8", "--pool-size", "5", "--max-overflow", "10")
    assert over.returncode == 1
    assert "CRIT pool-sizing: 8 processes x (pool_size 5 + max_overflow 10) = 120 does not fit" in over.stdout
    assert "-pooler" in over.stdout


def test_engine_pool_is_reported(lab_primary: LabCluster, tmp_path: Path) -> None:
    (tmp_path / "myapp_db.py").write_text(
        "import os\nfrom sqlalchemy import create_engine\n"
        "engine = create_engine(os.environ['DATABASE_URL'], pool_size=3, max_overflow=2)\n"
        "held = [engine.connect() for _ in range(2)]  # checked out at import\n"
    )
    result = pool_stats_cli(lab_primary.app_url(), "--json", "--engine", "myapp_db:engine", "--processes", "4",
                            cwd=tmp_path)
    doc = as_json(result)
    eng = doc["engine"]
    assert (eng["pool_class"], eng["size"], eng["checked_out"], eng["checked_in"]) == ("QueuePool", 3, 2, 0)
    assert doc["sizing"] == {"processes": 4, "pool_size": 3, "max_overflow": 2, "demand": 20}
    assert finding(doc, "engine-pool")["severity"] == "info"


def test_unbounded_overflow_engine_is_a_warning() -> None:
    pool = ps.EnginePool("m:engine", "QueuePool", 5, -1, 0, -5, 0, "")
    assert ps.engine_finding(pool).severity == "warn"
    exhausted = ps.EnginePool("m:engine", "QueuePool", 2, 1, 3, 1, 0, "")
    assert "exhausted" in ps.engine_finding(exhausted).message


@pytest.mark.parametrize("args, text", [
    (("--engine", "nosuchmodule_xyz:engine"), "cannot import"),
    (("--engine", "nocolon"), "MODULE:ATTR"),
    (("--warn-pct", "95", "--critical-pct", "90"), "--warn-pct"),
    (("--processes", "3"), "--pool-size"),
])
def test_configuration_errors_exit_2(lab_primary: LabCluster, args: tuple[str, ...], text: str) -> None:
    result = pool_stats_cli(lab_primary.app_url(), *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert text in result.stderr and "Traceback" not in result.stderr


def test_missing_database_url_is_config_error() -> None:
    result = run_cli("pool-stats")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_black_holed_host_ends_within_timeout_exit_4() -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # the kernel completes the handshake; nobody ever answers
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    password = f"Blackhole-{secrets.token_hex(8)}-pw"
    url = f"postgresql+psycopg2://app:{password}@127.0.0.1:{port}/db"
    try:
        started = time.monotonic()
        result = pool_stats_cli(url, "--connect-timeout", "2", timeout=30)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join(2)
        for s in [*accepted, listener]:
            s.close()
    assert result.returncode == 4, (result.stdout, result.stderr)
    assert elapsed < 12
    assert "unreachable" in result.stdout and "timeout" in result.stdout
    assert password not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_no_password_in_any_output(lab_primary: LabCluster) -> None:
    role = f"secretive_{secrets.token_hex(3)}"
    password = f"Distinctive-{secrets.token_hex(10)}-Pw"
    lab_primary.create_role(role, password, grants=("pg_monitor",))
    url = lab_primary.url(user=role, password=password)
    outputs = [pool_stats_cli(url, *a) for a in ((), ("--json",), ("-v", "--json", "--processes", "1",
                                                                      "--pool-size", "1"))]
    wrong = pool_stats_cli(lab_primary.url(user=role, password=password + "x"))
    assert wrong.returncode == 4 and "password authentication failed" in wrong.stdout
    for r in [*outputs, wrong]:
        assert password not in r.stdout + r.stderr
        assert "Traceback" not in r.stderr
    assert "****" in outputs[0].stdout


def test_renderers_are_pure_and_cover_disconnected_report() -> None:
    report = ps.Report(snapshot=None, findings=[ps.unreachable_finding(ps.Unreachable("timeout expired"))],
                       connected=False, target="postgresql://u:****@h/db")
    assert "CRIT unreachable" in to_text(report)
    doc = json.loads(json.dumps(to_json(report), default=str))
    assert doc["server"] is None and doc["findings"][0]["id"] == "unreachable"


def test_command_module_imports_no_database_stack() -> None:
    code = ("import sys, neondoctor.cli.pool_stats_cmd\n"
            "print([m for m in ('sqlalchemy', 'psycopg2') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


def test_watch_uses_exactly_one_connection_idle_between_samples(lab_primary: LabCluster) -> None:
    lab = lab_primary
    proc = _watch(lab.app_url(), samples=6, interval=0.3)
    seen: list[int] = []
    states: list[str] = []
    conn = lab.connect()
    try:
        with conn.cursor() as cur:
            while proc.poll() is None:
                cur.execute("SELECT count(*), max(state) FROM pg_stat_activity WHERE application_name = 'neondoctor'")
                count, state = cur.fetchone()
                seen.append(count)
                if state:
                    states.append(state)
                time.sleep(0.05)
        out, err = proc.communicate(timeout=30)
    finally:
        conn.close()
    assert proc.returncode == 0, (out, err)
    assert max(seen) == 1, seen
    # Between samples its transaction is closed: it must not look like the leaks it hunts. A sample's
    # own queries may be caught a moment apart (idle in transaction for a poll, on a slow machine);
    # a transaction held through the 0.3 s between samples would be seen for ~6 polls in a row.
    assert states.count("idle") >= 3, states
    streak = longest = 0
    for state in states:
        streak = streak + 1 if state == "idle in transaction" else 0
        longest = max(longest, streak)
    assert longest <= 2, states


def test_role_connection_limit(lab_primary: LabCluster) -> None:
    lab = lab_primary
    role = f"limited_{secrets.token_hex(3)}"
    password = f"Limited-{secrets.token_hex(8)}-pw"
    lab.create_role(role, password, options="CONNECTION LIMIT 2")
    with held(lab, 2, "limited-app", user=role, password=password):
        refused = pool_stats_cli(lab.url(user=role, password=password))
        assert refused.returncode == 4, (refused.stdout, refused.stderr)
        assert f'too many connections for role "{role}"' in refused.stdout
        assert "next: the role's CONNECTION LIMIT is reached" in refused.stdout
        doc = as_json(pool_stats_cli(lab.app_url(), "--json"))
        assert {"name": role, "limit": 2, "connections": 2} in doc["role_limits"]
        f = finding(doc, "role-limit")
        assert f and f["severity"] == "critical" and role in f["message"]
        assert password not in refused.stdout + refused.stderr


def test_neon_context_is_information_only() -> None:
    parsed = parse_url("postgresql+psycopg2://u:<password>@ep-cool-name-123456.us-east-2.aws.neon.tech/neondb")
    snap = ps.Snapshot.from_document(_doc(max_connections=419, superuser_reserved_connections=7,
                                          reserved_connections=0), parsed=parsed)
    f = next(x for x in ps.evaluate(snap) if x.id == "neon-context")
    assert f.severity == "info" and "1 CU" in f.message and "live value 7" in f.message
    assert snap.server.available == 412  # the live settings, not the documented table
    over = ps.sizing_finding(snap, ps.Sizing(50, 5, 5))
    assert over.severity == "critical" and "-pooler" in over.message


def test_database_connection_limit(make_cluster: Any) -> None:
    cluster = make_cluster(LabSpec(max_connections=20))
    cluster.execute("CREATE DATABASE capped OWNER app CONNECTION LIMIT 2")
    with held(cluster, 2, "capped-app", database="capped"):
        refused = pool_stats_cli(cluster.app_url(database="capped"))
        assert refused.returncode == 4, (refused.stdout, refused.stderr)
        assert 'too many connections for database "capped"' in refused.stdout
        assert "ALTER DATABASE <name> CONNECTION LIMIT" in refused.stdout
        doc = as_json(pool_stats_cli(cluster.app_url(), "--json"))
        assert {"name": "capped", "limit": 2, "connections": 2} in doc["database_limits"]
        assert finding(doc, "database-limit")["severity"] == "critical"
        assert [r["connections"] for r in doc["by_database"] if r["database"] == "capped"] == [2]
