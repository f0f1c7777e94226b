"""End to end: reproduce each runbook's fault on a real PostgreSQL, capture the driver's real error,
triage it with DATABASE_URL pointing at the broken setup, and assert the confirmed step."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from neondoctor.lab.cluster import LabSpec, free_port
from neondoctor.triage.runbook import load_runbooks
from neondoctor.triage.walk import TriageOptions, TriageResult, triage

WRONG_PASSWORD = "Wr0ng-Pa55-zq81XK"


def capture(action: Callable[[], Any]) -> str:
    """Run what the app would run; return the error as a traceback's last line shows it."""
    try:
        action()
    except Exception as exc:
        return f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}"
    pytest.fail("the fault did not reproduce: no error was raised")


def run_triage(text: str, url: str, monkeypatch: pytest.MonkeyPatch, **options: Any) -> TriageResult:
    monkeypatch.setenv("DATABASE_URL", url)
    return triage(text, load_runbooks(), TriageOptions(**options))


def confirmed(result: TriageResult) -> tuple[str | None, str, str | None]:
    return (result.runbook.id if result.runbook else None, result.verdict.status,
            result.verdict.step.id if result.verdict.step else None)


def connect_with_sqlalchemy(url: str, **kwargs: Any) -> Callable[[], None]:
    def action() -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(url, **kwargs)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            engine.dispose()
    return action


def test_wrong_password_scram(lab_primary: Any, monkeypatch: pytest.MonkeyPatch, cli: Any) -> None:
    url = lab_primary.app_url(password=WRONG_PASSWORD)
    error = capture(connect_with_sqlalchemy(url))
    assert "password authentication failed" in error
    result = run_triage(error, url, monkeypatch)
    assert confirmed(result) == ("auth-failure", "confirmed", "wrong-credentials")
    assert [o.status for o in result.steps][:-1] == ["ruled_out"] * (len(result.steps) - 1)
    # The real CLI, JSON and text: exit 0, the password nowhere.
    for args in (["--json"], []):
        proc = cli("triage", *args, error, env={"DATABASE_URL": url})
        assert proc.returncode == 0, proc.stderr
        assert WRONG_PASSWORD not in proc.stdout + proc.stderr
    data = json.loads(cli("triage", "--json", "-", input=error, env={"DATABASE_URL": url}).stdout)
    assert data["verdict"]["status"] == "confirmed" and data["verdict"]["step"] == "wrong-credentials"
    assert data["runbook"]["id"] == "auth-failure"
    assert data["matched"]["pattern"] == "password-authentication-failed"
    assert all(set(s) >= {"id", "cause", "status", "evidence", "duration_ms"} for s in data["steps"])


def test_refused_port(lab_primary: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    url = lab_primary.app_url(port=free_port())
    error = capture(connect_with_sqlalchemy(url))
    result = run_triage(error, url, monkeypatch)
    assert confirmed(result) == ("connect-failure", "confirmed", "port-closed")
    assert "refused" in result.steps[-1].evidence


def test_unresolvable_host(lab_primary: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    url = lab_primary.app_url(host="nosuchhost.invalid")
    error = capture(connect_with_sqlalchemy(url))
    assert "nosuchhost.invalid" in error
    result = run_triage(error, url, monkeypatch)
    assert confirmed(result) == ("connect-failure", "confirmed", "host-does-not-resolve")


def test_sslmode_require_against_server_without_ssl(lab_primary: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    url = lab_primary.app_url(query={"sslmode": "require", "connect_timeout": "5"})
    error = capture(connect_with_sqlalchemy(url))
    assert "SSL" in error
    result = run_triage(error, url, monkeypatch)
    assert confirmed(result) == ("connect-failure", "confirmed", "tls-mismatch")
    assert "'N'" in result.steps[-1].evidence


def test_backend_killed_under_pool_without_pre_ping(lab_primary: Any, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    url = lab_primary.app_url()
    (tmp_path / "stale_app_db.py").write_text(textwrap.dedent("""
        import os
        from sqlalchemy import create_engine
        engine = create_engine(os.environ["DATABASE_URL"], pool_size=2)
    """))
    engine = create_engine(url, pool_size=2)  # what the app module does: no pre-ping
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        lab_primary.execute("SELECT pg_terminate_backend(%s)", (pid,))
        time.sleep(0.2)

        def reuse() -> None:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        error = capture(reuse)
    finally:
        engine.dispose()
    result = run_triage(error, url, monkeypatch, engine_ref="stale_app_db:engine", cwd=tmp_path)
    assert confirmed(result) == ("stale-connection", "confirmed", "no-pre-ping")
    assert "pool_pre_ping=False" in result.steps[-1].evidence
    # The same app with pre-ping on: that step is ruled out and the walk moves on.
    (tmp_path / "stale_app_db2.py").write_text(
        (tmp_path / "stale_app_db.py").read_text().replace("pool_size=2", "pool_size=2, pool_pre_ping=True"))
    result2 = run_triage(error, url, monkeypatch, engine_ref="stale_app_db2:engine", cwd=tmp_path)
    assert [(o.step.id, o.status) for o in result2.steps][:2] == [("no-pre-ping", "ruled_out"),
                                                                  ("server-idle-timeout", "ruled_out")]
    assert result2.verdict.status == "inconclusive" and result2.verdict.step.is_manual


def test_non_superusers_fill_the_slots(make_cluster: Any, pg_install: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """On every available version: PG <=15 and 16+ word the refusal differently."""
    cluster = make_cluster(LabSpec(max_connections=6, superuser_reserved_connections=3), pg_install)
    held = [cluster.connect(user="app", database="neondoctor_lab") for _ in range(3)]
    try:
        url = cluster.app_url()
        error = capture(connect_with_sqlalchemy(url))
        assert "reserved" in error or "too many clients" in error
        result = run_triage(error, url, monkeypatch)
        assert confirmed(result) == ("slot-exhaustion", "confirmed", "slots-full")
    finally:
        for conn in held:
            conn.close()


def test_leaked_checkout_hits_queuepool_timeout(lab_primary: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import create_engine, text

    url = lab_primary.app_url()
    engine = create_engine(url, pool_size=1, max_overflow=0, pool_timeout=1)
    leaked = engine.connect()
    leaked.execute(text("SELECT 1"))  # checked out, in a transaction, never returned
    try:
        def second() -> None:
            with engine.connect():
                pass
        error = capture(second)
        assert "QueuePool limit of size 1 overflow 0 reached" in error
        result = run_triage(error, url, monkeypatch)
        assert confirmed(result) == ("pool-timeout", "confirmed", "leaked-checkout")
        assert "idle in transaction" in result.steps[0].evidence
    finally:
        leaked.close()
        engine.dispose()


@pytest.mark.parametrize("driver", ["pg8000", "psycopg2cffi"])  # SQLAlchemy dialects whose driver is not installed
def test_driver_that_cannot_be_imported(lab_primary: Any, monkeypatch: pytest.MonkeyPatch, driver: str) -> None:
    url = lab_primary.app_url(driver=driver, query={})
    error = capture(connect_with_sqlalchemy(url))
    assert f"No module named '{driver}'" in error
    result = run_triage(error, url, monkeypatch)
    assert confirmed(result) == ("missing-driver", "confirmed", "driver-not-installed")


def test_postgres_scheme(lab_primary: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    url = lab_primary.app_url(driver=None).replace("postgresql://", "postgres://", 1)
    error = capture(connect_with_sqlalchemy(url))
    assert "sqlalchemy.dialects:postgres" in error
    result = run_triage(error, url, monkeypatch)
    assert confirmed(result) == ("missing-driver", "confirmed", "postgres-scheme")


BLOCK_DRIVERS = """
import importlib.abc, runpy, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("psycopg2", "psycopg", "asyncpg", "pg8000", "sqlalchemy"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
sys.argv = ["neondoctor", *sys.argv[1:]]
runpy.run_module("neondoctor", run_name="__main__")
"""


def test_triage_works_with_no_driver_importable(tmp_path: Path, lab_primary: Any) -> None:
    import os
    import subprocess

    wrapper = tmp_path / "nodrivers.py"
    wrapper.write_text(BLOCK_DRIVERS)
    env = {**os.environ, "DATABASE_URL": lab_primary.app_url(), "NO_COLOR": "1"}
    proc = subprocess.run([sys.executable, str(wrapper), "triage", "--json",
                           "ModuleNotFoundError: No module named 'psycopg2'"],
                          capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["verdict"]["step"] == "driver-not-installed"
    assert "psycopg2" in data["steps"][-1]["evidence"]


def test_no_probes_imports_no_driver_and_no_sqlalchemy(tmp_path: Path) -> None:
    import os
    import subprocess

    code = ("import sys, runpy\nsys.argv = ['neondoctor', 'triage', '--no-probes', 'FATAL: sorry, too many clients already']\n"
            "try:\n    runpy.run_module('neondoctor', run_name='__main__')\nexcept SystemExit as e:\n"
            "    heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'psycopg2', 'psycopg'))\n"
            "    print('HEAVY', heavy, 'EXIT', e.code)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={**os.environ, "DATABASE_URL": "postgresql://u" + ":p@127.0.0.1:1/d", "NO_COLOR": "1"})
    assert "HEAVY [] EXIT 0" in proc.stdout, proc.stdout + proc.stderr
    assert "slot-exhaustion" in proc.stdout


def test_black_holed_host_ends_within_timeout(blackhole_port: int, monkeypatch: pytest.MonkeyPatch, cli: Any) -> None:
    url = f"postgresql+psycopg2://app:{WRONG_PASSWORD}@127.0.0.1:{blackhole_port}/db"
    # the paste names the same server as DATABASE_URL (another port would be probed as the error's own)
    for paste in (f'psycopg2.OperationalError: connection to server at "127.0.0.1", port {blackhole_port} failed: '
                  'timeout expired',
                  'FATAL:  password authentication failed for user "app"'):
        start = time.monotonic()
        result = run_triage(paste, url, monkeypatch, timeout=2)
        elapsed = time.monotonic() - start
        assert elapsed < 8, f"walk took {elapsed:.1f}s"
        assert result.verdict.status == "inconclusive"
        assert result.verdict.step.id in ("tls-mismatch", "neon-tls-off")
        assert "no answer" in result.steps[-1].evidence
    proc = cli("triage", "--timeout", "2", "timeout expired", env={"DATABASE_URL": url}, timeout=30)
    assert proc.returncode == 1
    assert "--ruled-out tls-mismatch" in proc.stdout
    assert WRONG_PASSWORD not in proc.stdout + proc.stderr


def test_cli_usage_errors(cli: Any, tmp_path: Path) -> None:
    assert cli("triage", "--no-probes", "deadlock detected").returncode == 3
    bad = cli("triage", "--no-probes", "--ruled-out", "nope", "too many clients already")
    assert bad.returncode == 2 and "no such step" in bad.stderr
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.yaml").write_text("id: x\n")
    proc = cli("triage", "--no-probes", "--runbooks-dir", str(tmp_path / "broken"), "boom")
    assert proc.returncode == 2 and "x.yaml: title" in proc.stderr
    assert cli("triage", "--no-probes", "--file", str(tmp_path / "missing.txt")).returncode == 2
    (tmp_path / "paste.txt").write_text("web_1 | sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 "
                                        "reached, connection timed out, timeout 30.00\n")
    ok = cli("triage", "--no-probes", "--json", "--file", str(tmp_path / "paste.txt"))
    assert ok.returncode == 0 and json.loads(ok.stdout)["runbook"]["id"] == "pool-timeout"


def test_ruled_out_continues_the_walk(lab_primary: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    url = lab_primary.app_url(port=free_port())
    paste = "Connection refused"
    result = run_triage(paste, url, monkeypatch, ruled_out=["port-closed"])
    port_step = next(o for o in result.steps if o.step.id == "port-closed")
    assert port_step.by_user and port_step.status == "ruled_out"
    assert result.verdict.step.id != "port-closed"


def test_demo_reproduces_and_confirms_every_runbook(primary_install: Any) -> None:
    from neondoctor.lab.demo import run_demo
    from neondoctor.lab.demo_pooler import NOT_REPRODUCIBLE
    from neondoctor.render.triage import demo_result_text

    skipped: list[Any] = []
    results = run_demo(primary_install, on_skip=skipped.append)
    assert not skipped, skipped  # CI has PgBouncer and every driver
    assert {r.runbook_id for r in results} == {b.id for b in load_runbooks()} - set(NOT_REPRODUCIBLE)
    bad = [demo_result_text(i, len(results), r) for i, r in enumerate(results, 1) if not r.ok]
    assert not bad, "\n".join(bad)


def test_server_idle_session_timeout(make_cluster: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cluster = make_cluster(LabSpec(idle_session_timeout_ms=1000))
    conn = cluster.connect(user="app", database="neondoctor_lab")
    time.sleep(1.6)  # the server ends the idle session

    def use() -> None:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    error = capture(use)
    conn.close()
    (tmp_path / "timeout_app_db.py").write_text(
        "import os\nfrom sqlalchemy import create_engine\n"
        "engine = create_engine(os.environ['DATABASE_URL'], pool_pre_ping=True)\n")
    result = run_triage(error, cluster.app_url(), monkeypatch, engine_ref="timeout_app_db:engine", cwd=tmp_path)
    assert confirmed(result) == ("stale-connection", "confirmed", "server-idle-timeout")
    assert "idle_session_timeout = 1s" in result.steps[-1].evidence


def test_engine_settings_read_statically(lab_primary: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "db.py").write_text(
        "from sqlalchemy import create_engine\nengine = create_engine(\n    URL,\n    pool_size=1,\n"
        "    max_overflow=0,\n)\n")
    paste = "sqlalchemy.exc.TimeoutError: QueuePool limit of size 1 overflow 0 reached, connection timed out, timeout 30.00"
    result = run_triage(paste, lab_primary.app_url(), monkeypatch, cwd=tmp_path)
    assert confirmed(result) == ("pool-timeout", "confirmed", "pool-too-small")
    assert "app/db.py:2" in result.steps[-1].evidence
    assert result.steps[0].status == "ruled_out"


def test_lab_demo_cli(cli: Any) -> None:
    proc = cli("lab", "demo", "--json", timeout=180)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    from neondoctor.lab.demo_pooler import NOT_REPRODUCIBLE

    assert not [item for item in data if "skipped" in item]  # CI has PgBouncer and every driver
    assert all(item["ok"] for item in data)
    assert {item["triage"]["runbook"]["id"] for item in data} == {b.id for b in load_runbooks()} - set(NOT_REPRODUCIBLE)
    assert all(item["triage"]["verdict"]["status"] == "confirmed" for item in data)


def test_manual_step_answered_at_the_prompt(make_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk asks `ask(step)` at a manual step (the CLI wires a terminal prompt to it).

    A cluster of its own: on the shared one, other tests' idle sessions would confirm an earlier step."""
    cluster = make_cluster()
    monkeypatch.setenv("DATABASE_URL", cluster.app_url())
    books = load_runbooks()
    asked: list[str] = []

    def no(step: Any) -> bool:
        asked.append(step.id)
        return False
    stopped = triage("too many clients already", books, TriageOptions(), ask=no)
    assert stopped.verdict.status == "inconclusive" and asked == ["pooler-or-peak"]
    assert stopped.verdict.continue_with == ("pooler-or-peak",)
    done = triage("too many clients already", books, TriageOptions(), ask=lambda step: True)
    assert done.verdict.status == "all_ruled_out" and done.exit_code == 1
    assert done.steps[-1].by_user


def test_text_output_marks_and_no_colour(cli: Any, lab_primary: Any) -> None:
    url = lab_primary.app_url(password=WRONG_PASSWORD)
    proc = cli("triage", 'FATAL:  password authentication failed for user "app"', env={"DATABASE_URL": url})
    assert proc.returncode == 0
    assert "\x1b[" not in proc.stdout
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Runbook: auth-failure")
    assert any(line.strip().startswith("✓ wrong-credentials") for line in lines)
    assert any(line.strip().startswith("✗ no-database-url") for line in lines)
    assert any(line.startswith("Fix: ") for line in lines)


def test_verify_full_without_root_certificate(make_cluster: Any, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    cluster = make_cluster(LabSpec(ssl=True))
    missing = tmp_path / "no-such-root.crt"
    url = cluster.app_url(query={"sslmode": "verify-full", "sslrootcert": str(missing), "connect_timeout": "5"})
    error = capture(connect_with_sqlalchemy(url))
    assert "root certificate file" in error
    result = run_triage(error, url, monkeypatch)
    assert confirmed(result) == ("connect-failure", "confirmed", "tls-mismatch")
    assert str(missing) in result.steps[-1].evidence
    # With TLS merely required, the same server is fine: the TLS step is ruled out.
    ok_url = cluster.app_url(query={"sslmode": "require", "connect_timeout": "5"})
    result2 = run_triage(error, ok_url, monkeypatch)
    assert next(o for o in result2.steps if o.step.id == "tls-mismatch").status == "ruled_out"


def test_bad_engine_reference_is_a_usage_error(cli: Any) -> None:
    proc = cli("triage", "--engine", "no-colon", "server closed the connection unexpectedly")
    assert proc.returncode == 2 and "--engine must be module:attribute" in proc.stderr
