"""`neondoctor sanity` against a real PostgreSQL from the lab and against SQLite."""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from neondoctor.errors import ConfigError
from neondoctor.lab.cluster import LabCluster
from neondoctor.sanity.sequence import STEP_NAMES, SanityReport, is_stale_token, new_token, run_sanity
from tests.conftest import REPO, run_cli

HAS_MATCHER = importlib.util.find_spec("neondoctor.triage.matcher") is not None

NewDb = Callable[..., str]


def _new_db_factory(cluster: LabCluster) -> Iterator[NewDb]:
    made: list[str] = []

    def factory(owner: str = "app") -> str:
        name = f"sanity_{uuid.uuid4().hex[:10]}"
        cluster.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        made.append(name)
        return name

    yield factory
    if cluster.is_running():
        for name in made:
            cluster.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def lab_db(lab: LabCluster) -> Iterator[NewDb]:
    """A fresh database on each version's lab cluster, dropped after the test."""
    yield from _new_db_factory(lab)


@pytest.fixture
def new_db(lab_primary: LabCluster) -> Iterator[NewDb]:
    """A fresh database on the primary lab cluster, dropped after the test."""
    yield from _new_db_factory(lab_primary)


def _statuses(report: SanityReport) -> dict[str, str]:
    return {s.name: s.status for s in report.steps}


def _snapshot(cluster: LabCluster, db: str, table: str) -> list[tuple[Any, ...]]:
    # xmin/ctid change on any UPDATE, even one that writes identical values: "untouched", not "equal".
    return cluster.execute(f'SELECT xmin::text, ctid::text, t::text FROM "{table}" t ORDER BY 3', database=db)


def _marker_count(cluster: LabCluster, db: str) -> int:
    rows = cluster.execute("SELECT count(*) FROM categories WHERE name LIKE 'neondoctor-sanity:%'", database=db)
    return int(rows[0][0])


# -- all five steps pass ---------------------------------------------------------------------------

def test_all_steps_pass_on_postgresql(lab: LabCluster, lab_db: NewDb) -> None:
    name = lab_db()
    report = run_sanity(lab.app_url(database=name))
    assert report.passed, report.to_json()
    assert [s.name for s in report.steps] == list(STEP_NAMES)
    assert all(s.status == "passed" and s.duration_ms > 0 for s in report.steps if s.name != "migrations")
    assert report.step("migrations").status == "skipped"
    assert "created table categories, table expenses" in report.step("schema").detail
    assert report.will_create == report.created == ["table categories", "table expenses"]
    assert f"(PostgreSQL {lab.major}." in report.step("health").detail
    # Step 5 ran in another process: its pid is in the detail and is not ours.
    restart = report.step("restart").detail
    child_pid = int(restart.split("pid ")[1].split(",")[0])
    assert child_pid != os.getpid()
    assert report.cleanup == "removed 2 marker rows"
    assert _marker_count(lab, name) == 0
    # A second run finds the tables and passes again.
    again = run_sanity(lab.app_url(database=name))
    assert again.passed and "nothing created" in again.step("schema").detail
    assert again.will_create == again.created == []


def test_all_steps_pass_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "budget.db"
    report = run_sanity(f"sqlite:///{path}")
    assert report.passed, report.to_json()
    assert report.dialect == "sqlite"
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM categories").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM expenses").fetchone() == (0,)


def test_bare_postgresql_scheme_uses_psycopg2(lab_primary: LabCluster, new_db: NewDb) -> None:
    report = run_sanity(lab_primary.app_url(database=new_db(), driver=None))
    assert report.passed, report.to_json()
    assert report.database.startswith("postgresql://app:****@")


# -- the restart step really reads from the database, in another process -------------------------

def test_restart_fails_when_the_row_is_gone(lab_primary: LabCluster, new_db: NewDb) -> None:
    db = new_db()

    def remove_marker(step: str, report: SanityReport) -> None:
        if step == "round_trip":  # the marker is in the database now; take it away behind our back
            lab_primary.execute("DELETE FROM expenses WHERE description = %s", (report.token,), database=db)
            lab_primary.execute("DELETE FROM categories WHERE name = %s", (report.token,), database=db)

    report = run_sanity(lab_primary.app_url(database=db), after_step=remove_marker)
    assert _statuses(report) == {"health": "passed", "migrations": "skipped", "schema": "passed", "tables": "passed",
                                 "round_trip": "passed", "restart": "failed"}
    assert "did not find marker" in report.step("restart").detail
    assert "new process (pid" in report.step("restart").detail


def test_restart_fails_on_sqlite_when_the_row_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "b.db"

    def remove_marker(step: str, report: SanityReport) -> None:
        if step == "round_trip":
            with sqlite3.connect(path) as conn:
                conn.execute("DELETE FROM expenses WHERE description = ?", (report.token,))
                conn.execute("DELETE FROM categories WHERE name = ?", (report.token,))

    report = run_sanity(f"sqlite:///{path}", after_step=remove_marker)
    assert report.step("restart").status == "failed"
    assert "did not find marker" in report.step("restart").detail


# -- safety: user rows untouched, leftovers removed ------------------------------------------------

USER_MODELS = textwrap.dedent("""
    from sqlalchemy import Integer, MetaData, String, Table, Column

    metadata = MetaData()
    accounts = Table("accounts", metadata, Column("id", Integer, primary_key=True), Column("owner", String(50)))
    notes = Table("notes", metadata, Column("id", Integer, primary_key=True), Column("body", String(200)))
""")


def test_user_rows_untouched_after_passing_and_failing_runs(
        lab_primary: LabCluster, new_db: NewDb, tmp_path: Path) -> None:
    db = new_db()
    url = lab_primary.app_url(database=db)
    app = lab_primary.connect(user="app", database=db)
    with app.cursor() as cur:
        cur.execute("CREATE TABLE accounts (id integer PRIMARY KEY, owner varchar(50))")
        cur.execute("INSERT INTO accounts VALUES (1, 'alice'), (2, 'neondoctor-sanity:not-a-marker')")
        cur.execute("CREATE TABLE notes (id integer PRIMARY KEY, body varchar(200))")
    app.close()
    # The budget tracker's own tables with rows of the user's (what a real deployment has).
    assert run_sanity(url).passed
    lab_primary.execute("INSERT INTO categories (name) VALUES ('food'), ('neondoctor-sanity:user-named')",
                        database=db)
    lab_primary.execute("INSERT INTO expenses (amount, spent_on, description, category_id) "
                        "SELECT 12.5, DATE '2026-01-02', 'lunch', id FROM categories WHERE name = 'food'",
                        database=db)
    before = {t: _snapshot(lab_primary, db, t) for t in ("accounts", "categories", "expenses")}

    (tmp_path / "usermodels.py").write_text(USER_MODELS)
    assert run_sanity(url).passed
    user_run = run_sanity(url, metadata_spec="usermodels:metadata")
    assert user_run.passed, user_run.to_json()
    assert user_run.step("round_trip").detail.startswith("wrote and read back neondoctor.sanity_marker row")

    def fail_restart(step: str, report: SanityReport) -> None:
        if step == "round_trip":
            lab_primary.execute("DELETE FROM neondoctor.sanity_marker WHERE token = %s", (report.token,),
                                database=db)

    failed = run_sanity(url, metadata_spec="usermodels:metadata", after_step=fail_restart)
    assert not failed.passed
    after = {t: _snapshot(lab_primary, db, t) for t in ("accounts", "categories", "expenses")}
    assert after == before
    assert _snapshot(lab_primary, db, "notes") == []  # never written
    assert lab_primary.execute("SELECT count(*) FROM neondoctor.sanity_marker", database=db) == [(0,)]


def test_leftovers_of_an_interrupted_run_are_removed(lab_primary: LabCluster, new_db: NewDb) -> None:
    db = new_db()
    url = lab_primary.app_url(database=db)
    assert run_sanity(url).passed
    stale = new_token(now=time.time() - 2 * 3600)
    recent = new_token()  # another CI job's marker, still in flight: must be left alone
    assert is_stale_token(stale) and not is_stale_token(recent)
    for token in (stale, recent, "neondoctor-sanity:0000000001:hand-made"):
        lab_primary.execute("INSERT INTO categories (name) VALUES (%s)", (token,), database=db)
    lab_primary.execute("INSERT INTO expenses (amount, spent_on, description, category_id) "
                        "SELECT 0.01, CURRENT_DATE, name, id FROM categories WHERE name = %s", (stale,), database=db)

    # The in-flight job is alive: it holds its run's liveness lock, as run_sanity does.
    alive = lab_primary.connect(database=db)
    with alive.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (0x6E64, recent))
    try:
        report = run_sanity(url)
    finally:
        alive.close()
    assert report.passed
    assert "removed 2 leftover marker rows" in report.step("round_trip").detail
    names = {r[0] for r in lab_primary.execute("SELECT name FROM categories", database=db)}
    assert names == {recent, "neondoctor-sanity:0000000001:hand-made"}
    # Once that job is gone (its session closed), the next run removes its marker too.
    assert "removed 1 leftover marker rows" in run_sanity(url).step("round_trip").detail


def test_a_user_row_referencing_a_leftover_marker_keeps_it(lab_primary: LabCluster, new_db: NewDb) -> None:
    db = new_db()
    url = lab_primary.app_url(database=db)
    assert run_sanity(url).passed
    stale = new_token(now=time.time() - 2 * 3600)
    lab_primary.execute("INSERT INTO categories (name) VALUES (%s)", (stale,), database=db)
    # Someone filed a real expense under the leftover category: deleting it would break their row.
    lab_primary.execute("INSERT INTO expenses (amount, spent_on, description, category_id) "
                        "SELECT 3.50, CURRENT_DATE, 'real coffee', id FROM categories WHERE name = %s",
                        (stale,), database=db)
    before = _snapshot(lab_primary, db, "expenses")
    report = run_sanity(url)
    assert report.passed, report.to_json()
    assert "leftover markers kept" in report.step("round_trip").detail
    assert _snapshot(lab_primary, db, "expenses") == before


# -- failures --------------------------------------------------------------------------------------

def test_server_stopped_before_the_run_fails_fast(make_cluster: Callable[..., LabCluster]) -> None:
    cluster = make_cluster()
    url = cluster.app_url()
    cluster.stop()
    start = time.monotonic()
    report = run_sanity(url)
    elapsed = time.monotonic() - start
    assert elapsed < 5
    assert _statuses(report) == {"health": "failed", "migrations": "skipped", "schema": "skipped", "tables": "skipped",
                                 "round_trip": "skipped", "restart": "skipped"}
    assert "Connection refused" in report.step("health").error  # type: ignore[operator]
    assert report.cleanup == ""  # nothing was written, nothing to clean
    if HAS_MATCHER:
        assert report.triage is not None, "the matcher exists: a refused connection must match a runbook"
        assert report.triage["runbook"] and report.triage["first_steps"]


def test_black_holed_host_fails_step_one_within_seconds(blackhole_port: int) -> None:
    url = f"postgresql+psycopg2://app:<password>@127.0.0.1:{blackhole_port}/app"
    start = time.monotonic()
    report = run_sanity(url, timeout=2)
    assert time.monotonic() - start < 8
    assert report.step("health").status == "failed"
    assert "timeout" in (report.step("health").error or "").lower()


def test_server_stopped_between_round_trip_and_restart(make_cluster: Callable[..., LabCluster]) -> None:
    cluster = make_cluster()
    url = cluster.app_url()

    def stop_server(step: str, _report: SanityReport) -> None:
        if step == "round_trip":
            cluster.stop()

    report = run_sanity(url, after_step=stop_server)
    assert _statuses(report) == {"health": "passed", "migrations": "skipped", "schema": "passed", "tables": "passed",
                                 "round_trip": "passed", "restart": "failed"}
    assert "Connection refused" in report.step("restart").detail
    assert report.cleanup.startswith("could not remove marker rows")
    # Back up: the marker of the interrupted run is still there until the next run, which sees that
    # its run is gone (its liveness lock died with the server) and removes it.
    cluster.start()
    assert int(cluster.execute("SELECT count(*) FROM categories", database="neondoctor_lab")[0][0]) == 1
    again = run_sanity(url)
    assert again.passed
    assert "removed 2 leftover marker rows" in again.step("round_trip").detail  # its category + expense
    assert int(cluster.execute("SELECT count(*) FROM categories", database="neondoctor_lab")[0][0]) == 0
    assert int(cluster.execute("SELECT count(*) FROM expenses", database="neondoctor_lab")[0][0]) == 0


def test_server_killed_mid_run_then_restarted(make_cluster: Callable[..., LabCluster]) -> None:
    """A crash (immediate shutdown) after the round trip: the next run passes and leaves nothing."""
    cluster = make_cluster()
    url = cluster.app_url()
    conn = cluster.connect(user="app", database="neondoctor_lab")
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE user_notes (id int primary key, body text)")
        cur.execute("INSERT INTO user_notes VALUES (1, 'keep me'), (2, 'and me')")
    conn.close()

    def crash(step: str, _report: SanityReport) -> None:
        if step == "round_trip":
            cluster.kill()

    assert not run_sanity(url, after_step=crash).passed
    cluster.start()
    assert run_sanity(url).passed
    rows = cluster.execute("SELECT id, body FROM user_notes ORDER BY id", database="neondoctor_lab")
    assert rows == [(1, "keep me"), (2, "and me")]
    for table in ("categories", "expenses"):
        assert cluster.execute(f"SELECT count(*) FROM {table}", database="neondoctor_lab") == [(0,)]


def test_a_live_concurrent_run_keeps_its_marker(lab_primary: LabCluster, new_db: NewDb) -> None:
    """Another run's marker is removed only when that run is gone, whatever its age."""
    url = lab_primary.app_url(database=new_db())
    seen: dict[str, str] = {}

    def nested(step: str, report: SanityReport) -> None:
        if step == "round_trip":
            inner = run_sanity(url)  # runs while the outer run holds its marker and its lock
            seen["inner"] = inner.step("round_trip").detail
            seen["passed"] = str(inner.passed)

    outer = run_sanity(url, after_step=nested)
    assert outer.passed, outer.step("restart").detail
    assert seen["passed"] == "True"
    assert "leftover" not in seen["inner"]


def _no_create_role(cluster: LabCluster, password: str) -> str:
    """A database whose public schema PUBLIC may not CREATE in, and a role that may only connect."""
    db = f"nocreate_{uuid.uuid4().hex[:8]}"
    role = f"nocreate_{uuid.uuid4().hex[:8]}"
    cluster.execute(f'CREATE DATABASE "{db}"')
    cluster.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC", database=db)
    cluster.create_role(role, password=password)
    cluster.execute(f'GRANT CONNECT ON DATABASE "{db}" TO "{role}"')
    return cluster.url(user=role, password=password, database=db)


PASSWORD = "Sanity-Pw-7Qx!zq93"  # distinctive, so its absence from output proves something


def test_role_without_create_privilege_fails_step_two(lab_primary: LabCluster, tmp_path: Path) -> None:
    url = _no_create_role(lab_primary, PASSWORD + "nc")
    junit = tmp_path / "nocreate.xml"
    proc = run_cli("sanity", "--json", "--junit", str(junit), env={"DATABASE_URL": url})
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    statuses = {s["name"]: s["status"] for s in doc["steps"]}
    assert statuses == {"health": "passed", "migrations": "skipped", "schema": "failed", "tables": "skipped",
                        "round_trip": "skipped", "restart": "skipped"}
    schema = next(s for s in doc["steps"] if s["name"] == "schema")
    assert "permission denied for schema public" in schema["detail"]
    assert doc["passed"] is False
    for text in (proc.stdout, proc.stderr, junit.read_text()):
        assert PASSWORD not in text
    failure = ET.parse(junit).getroot().find(".//testcase[@name='schema']/failure")
    assert failure is not None and "permission denied" in failure.get("message", "")


def test_two_runs_at_once_both_pass(lab_primary: LabCluster, new_db: NewDb) -> None:
    # A fresh database: both runs race to create the tables and to write their markers.
    env = {**os.environ, "DATABASE_URL": lab_primary.app_url(database=new_db()), "NO_COLOR": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "neondoctor", "sanity", "--json"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    docs = [json.loads(out) for out, _ in results]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    assert all(d["passed"] for d in docs)
    assert docs[0]["run_token"] != docs[1]["run_token"]


# -- CLI: configuration errors, JSON, JUnit, no password anywhere ----------------------------------

@pytest.mark.parametrize(("args", "env", "message"), [
    ((), {}, "DATABASE_URL"),
    ((), {"DATABASE_URL": "postgres://u:<password>@h/db"}, "postgres://"),
    ((), {"DATABASE_URL": "sqlite://"}, "in-memory SQLite"),
    ((), {"DATABASE_URL": "mysql://u@h/db"}, "not PostgreSQL"),
    (("--metadata", "nocolon"), {"DATABASE_URL": "sqlite:///x.db"}, "expected MODULE:ATTR"),
    (("--metadata", "no_such_module_xyz:Base"), {"DATABASE_URL": "sqlite:///x.db"}, "cannot import"),
    (("--metadata", "json:NoSuchAttr"), {"DATABASE_URL": "sqlite:///x.db"}, "has no attribute"),
    (("--metadata", "json:dumps"), {"DATABASE_URL": "sqlite:///x.db"}, "not a declarative Base or a MetaData"),
    (("--junit", "no/such/dir/out.xml"), {"DATABASE_URL": "sqlite:///x.db"}, "does not exist"),
])
def test_configuration_errors_exit_2(args: tuple[str, ...], env: dict[str, str], message: str,
                                     tmp_path: Path) -> None:
    proc = run_cli("sanity", *args, env=env, cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.db").exists()  # nothing was checked, nothing created


def test_config_error_in_core_before_any_step() -> None:
    with pytest.raises(ConfigError, match="postgres://"):
        run_sanity("postgres://u:<password>@localhost/db")


def test_cli_text_and_junit_on_sqlite(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}"}
    proc = run_cli("sanity", "--junit", "report.xml", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for name in STEP_NAMES:
        if name != "migrations":
            assert any(line.strip().startswith(f"✓ {name} ") and " ms " in line for line in lines), proc.stdout
    assert "- migrations" in proc.stdout and "skipped: no --alembic PATH given" in proc.stdout
    assert "schema: will create table categories, table expenses" in lines[0]  # before the run
    assert "PASSED: 5/6 steps, skipped: migrations" in proc.stdout
    root = ET.parse(tmp_path / "report.xml").getroot()
    cases = root.findall(".//testcase")
    assert [c.get("name") for c in cases] == list(STEP_NAMES)
    assert root.find("testsuite").get("failures") == "0"  # type: ignore[union-attr]


def test_cli_metadata_option_with_user_models_on_sqlite(tmp_path: Path) -> None:
    (tmp_path / "usermodels.py").write_text(USER_MODELS)
    db = tmp_path / "user.db"
    with sqlite3.connect(db) as conn:  # the app's own tables, made by its migrations
        conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner VARCHAR(50))")
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR(200))")
    proc = run_cli("sanity", "--json", "--metadata", "usermodels:metadata",
                   env={"DATABASE_URL": f"sqlite:///{db}"}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["passed"] is True and doc["metadata"] == "usermodels:metadata"
    assert "accounts, notes" in next(s for s in doc["steps"] if s["name"] == "tables")["detail"]
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {"accounts", "notes", "neondoctor_sanity_marker"}  # no budget tables; SQLite has no schemas
        assert conn.execute("SELECT count(*) FROM accounts").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM neondoctor_sanity_marker").fetchone() == (0,)


def test_cli_failure_text_json_junit_with_triage(make_cluster: Callable[..., LabCluster], tmp_path: Path) -> None:
    cluster = make_cluster()
    cluster.create_role("leaky_down", password=PASSWORD + "down")
    url = cluster.url(user="leaky_down", password=PASSWORD + "down", database="postgres")
    cluster.stop()
    text = run_cli("sanity", "--junit", "down.xml", env={"DATABASE_URL": url}, cwd=tmp_path)
    as_json = run_cli("sanity", "--json", env={"DATABASE_URL": url}, cwd=tmp_path)
    assert text.returncode == 1 and as_json.returncode == 1
    assert "✗ health" in text.stdout and "- schema" in text.stdout and "FAILED at step health" in text.stdout
    doc = json.loads(as_json.stdout)
    assert doc["passed"] is False and doc["database"].startswith("postgresql+psycopg2://leaky_down:****@")
    junit = (tmp_path / "down.xml").read_text()
    root = ET.fromstring(junit)
    assert root.find(".//testcase[@name='health']/failure") is not None
    assert len(root.findall(".//testcase/skipped")) == 5
    if HAS_MATCHER:
        assert doc["triage"] and doc["triage"]["first_steps"]
        assert "Triage: runbook" in text.stdout
        assert "triage: runbook" in junit
    for out in (text.stdout, text.stderr, as_json.stdout, as_json.stderr, junit):
        assert PASSWORD not in out


def test_password_appears_nowhere_on_a_passing_run(lab_primary: LabCluster, tmp_path: Path) -> None:
    role = f"leaky_{uuid.uuid4().hex[:8]}"
    password = PASSWORD + "ok"
    lab_primary.create_role(role, password=password)
    db = f"leakdb_{uuid.uuid4().hex[:8]}"
    lab_primary.execute(f'CREATE DATABASE "{db}" OWNER "{role}"')  # the privileges the run needs
    url = lab_primary.url(user=role, password=password, database=db)
    env = {"DATABASE_URL": url}
    outputs = []
    for args in (("sanity",), ("sanity", "--json", "--junit", "ok.xml"), ("sanity", "-vv", "--log-format", "json")):
        proc = run_cli(*args, env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        outputs += [proc.stdout, proc.stderr]
    outputs.append((tmp_path / "ok.xml").read_text())
    for out in outputs:
        assert password not in out
        assert PASSWORD not in out
    doc = json.loads(outputs[2])
    assert doc["database"] == f"postgresql+psycopg2://{role}:****@127.0.0.1:{lab_primary.port}/{db}?connect_timeout=5"
    lab_primary.execute(f'DROP DATABASE "{db}" WITH (FORCE)')


def test_benchmark_reference_script_runs(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'plain.db'}"}
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "sanity_plain.py")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("ok") == 5


def test_engine_bounds_every_transaction(lab_primary: LabCluster) -> None:
    from sqlalchemy import text

    from neondoctor import drivers
    from neondoctor.sanity.sequence import make_engine, resolve_target
    from neondoctor.url import parse_url

    # A bare postgresql:// follows the installed SQLAlchemy's default (psycopg 3 from 2.1), and says so.
    bare_url = lab_primary.app_url(driver=None, query={})
    bare = resolve_target(bare_url)
    assert bare.url.drivername == f"postgresql+{drivers.choose(parse_url(bare_url)).name}"
    assert "no +driver in the URL" in bare.driver_reason
    target = resolve_target(lab_primary.app_url(driver="psycopg2", query={"connect_timeout": "30"}))
    engine = make_engine(target, timeout=3)
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT current_setting('statement_timeout'), current_setting('lock_timeout'), "
                                    "current_setting('application_name')")).one()
            assert tuple(row) == ("15s", "10s", "neondoctor-sanity")
            conn.commit()
            # SET LOCAL semantics: outside a transaction the server default is back.
            raw = conn.connection.dbapi_connection
            assert raw is not None
            cur = raw.cursor()
            cur.execute("SELECT current_setting('statement_timeout')")
            assert cur.fetchone() == ("0",)
            raw.rollback()
            # The URL's connect_timeout=30 is capped at the sanity timeout.
            assert raw.get_dsn_parameters()["connect_timeout"] == "3"  # type: ignore[attr-defined]
    finally:
        engine.dispose()
