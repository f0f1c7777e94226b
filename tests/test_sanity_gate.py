"""`neondoctor sanity` as a deploy gate: leaves the database as it found it, catches schema drift and
unapplied Alembic migrations, runs read-only, and triages a failing step from its own error."""

from __future__ import annotations

import json
import shlex
import textwrap
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from neondoctor.lab.cluster import LabCluster
from neondoctor.sanity.sequence import SanityReport, run_sanity
from tests.conftest import run_cli

NewDb = Callable[..., str]

USER_MODELS = textwrap.dedent("""
    from sqlalchemy import Column, Index, Integer, MetaData, String, Table

    metadata = MetaData()
    users = Table("users", metadata,
                  Column("id", Integer, primary_key=True),
                  Column("name", String(50), nullable=False),
                  Column("email", String(100), nullable=False),
                  Index("ix_users_email", "email"))
""")
USERS_DDL = ("CREATE TABLE users (id serial PRIMARY KEY, name varchar(50) NOT NULL, email varchar(100) NOT NULL)",
             "CREATE INDEX ix_users_email ON users (email)",
             "INSERT INTO users (name, email) VALUES ('alice', 'a@example.org'), ('bob', 'b@example.org')")


@pytest.fixture
def new_db(lab_primary: LabCluster) -> Iterator[NewDb]:
    made: list[str] = []

    def factory(owner: str = "app", ddl: tuple[str, ...] = ()) -> str:
        name = f"gate_{uuid.uuid4().hex[:10]}"
        lab_primary.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        made.append(name)
        if ddl:
            conn = lab_primary.connect(user=owner, database=name)
            with conn.cursor() as cur:
                for statement in ddl:
                    cur.execute(statement)
            conn.close()
        return name

    yield factory
    for name in made:
        lab_primary.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def models(tmp_path: Path) -> str:
    (tmp_path / "gatemodels.py").write_text(USER_MODELS)
    return "gatemodels:metadata"


def snapshot(cluster: LabCluster, db: str, schema: str = "public") -> dict[str, list[tuple[Any, ...]]]:
    """Everything information_schema and pg_indexes say about one schema."""
    queries = {
        "tables": "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = %s ORDER BY 1",
        "columns": "SELECT table_name, column_name, data_type, is_nullable, character_maximum_length "
                   "FROM information_schema.columns WHERE table_schema = %s ORDER BY 1, 2",
        "constraints": "SELECT table_name, constraint_name, constraint_type FROM information_schema.table_constraints "
                       "WHERE table_schema = %s AND constraint_type <> 'CHECK' ORDER BY 1, 2",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %s ORDER BY 1, 2",
    }
    return {k: [tuple(r) for r in cluster.execute(q, (schema,), database=db)] for k, q in queries.items()}


def schemas(cluster: LabCluster, db: str) -> set[str]:
    rows = cluster.execute("SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
                           "AND nspname <> 'information_schema'", database=db)
    return {r[0] for r in rows}


def user_rows(cluster: LabCluster, db: str) -> list[tuple[Any, ...]]:
    # xmin/ctid change on any UPDATE, even one writing identical values: "untouched", not "equal".
    return cluster.execute("SELECT xmin::text, ctid::text, u::text FROM users u ORDER BY id", database=db)


def statuses(report: SanityReport) -> dict[str, str]:
    return {s.name: s.status for s in report.steps}


# -- leave the database as it found it ----------------------------------------------------------

def test_user_metadata_leaves_the_app_schema_exactly_as_it_was(
        lab_primary: LabCluster, new_db: NewDb, models: str, tmp_path: Path) -> None:
    db = new_db(ddl=USERS_DDL)
    before, rows = snapshot(lab_primary, db), user_rows(lab_primary, db)
    env = {"DATABASE_URL": lab_primary.app_url(database=db)}
    proc = run_cli("sanity", "--metadata", models, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0] == "schema: will create schema neondoctor, table neondoctor.sanity_marker " \
                                          "(left in place; see README, sanity)"
    assert snapshot(lab_primary, db) == before
    assert user_rows(lab_primary, db) == rows
    assert schemas(lab_primary, db) == {"public", "neondoctor"}
    assert lab_primary.execute("SELECT count(*) FROM neondoctor.sanity_marker", database=db) == [(0,)]
    # A second run creates nothing and announces so; JSON lists nothing created.
    doc = json.loads(run_cli("sanity", "--json", "--metadata", models, env=env, cwd=tmp_path).stdout)
    assert doc["passed"] and doc["will_create"] == [] and doc["created"] == []
    # One command removes neondoctor's own objects; the app's schema is still untouched.
    dropped = run_cli("sanity", "--drop-own-schema", env=env, cwd=tmp_path)
    assert dropped.returncode == 0, dropped.stderr
    assert dropped.stdout.strip() == "dropped table neondoctor.sanity_marker, schema neondoctor"
    assert schemas(lab_primary, db) == {"public"}
    assert snapshot(lab_primary, db) == before
    again = run_cli("sanity", "--drop-own-schema", env=env, cwd=tmp_path)
    assert again.returncode == 0 and "nothing to drop" in again.stdout


def test_drop_own_schema_refuses_when_the_schema_holds_foreign_objects(
        lab_primary: LabCluster, new_db: NewDb, models: str, tmp_path: Path) -> None:
    db = new_db(ddl=USERS_DDL)
    env = {"DATABASE_URL": lab_primary.app_url(database=db)}
    assert run_cli("sanity", "--metadata", models, env=env, cwd=tmp_path).returncode == 0
    lab_primary.execute("CREATE TABLE neondoctor.someone_elses (id int)", database=db)
    proc = run_cli("sanity", "--drop-own-schema", env=env, cwd=tmp_path)
    assert proc.returncode == 1
    assert "someone_elses" in proc.stderr and "Traceback" not in proc.stderr
    assert schemas(lab_primary, db) == {"public", "neondoctor"}


def test_budget_mode_adds_exactly_the_announced_tables(
        lab_primary: LabCluster, new_db: NewDb, tmp_path: Path) -> None:
    db = new_db()
    before = snapshot(lab_primary, db)
    junit = tmp_path / "budget.xml"
    proc = run_cli("sanity", "--junit", str(junit), env={"DATABASE_URL": lab_primary.app_url(database=db)},
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("schema: will create table categories, table expenses")
    after = snapshot(lab_primary, db)
    new_tables = sorted(set(after["tables"]) - set(before["tables"]))
    assert new_tables == [("categories", "BASE TABLE"), ("expenses", "BASE TABLE")]
    assert {c[0] for c in after["columns"]} - {c[0] for c in before["columns"]} == {"categories", "expenses"}
    assert schemas(lab_primary, db) == {"public"}  # budget markers live in its own tables: no schema of ours
    assert lab_primary.execute("SELECT count(*) FROM categories", database=db) == [(0,)]
    props = {p.get("name"): p.get("value") for p in ET.parse(junit).getroot().iter("property")}
    assert props["created"] == props["will_create"] == "table categories, table expenses"


def test_no_create_on_an_empty_database_fails_without_creating_anything(
        lab_primary: LabCluster, new_db: NewDb, models: str, tmp_path: Path) -> None:
    db = new_db()
    url = lab_primary.app_url(database=db)
    before = {s: snapshot(lab_primary, db, s) for s in ("public",)}
    for extra in ((), ("--metadata", models)):
        proc = run_cli("sanity", "--no-create", "--json", *extra, env={"DATABASE_URL": url}, cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr
        doc = json.loads(proc.stdout)
        steps = {s["name"]: s for s in doc["steps"]}
        assert steps["schema"]["status"] == "skipped" and "--no-create" in steps["schema"]["detail"]
        assert steps["tables"]["status"] == "failed"
        missing = ["users"] if extra else ["categories", "expenses"]
        assert [d.split(":")[0] for d in steps["tables"]["differences"]] == missing
        assert all("the database has no such table" in d for d in steps["tables"]["differences"])
        assert doc["created"] == [] and doc["will_create"] == []
    assert {s: snapshot(lab_primary, db, s) for s in ("public",)} == before
    assert schemas(lab_primary, db) == {"public"}


# -- schema drift --------------------------------------------------------------------------------

DRIFTS = {
    "dropped-column": ("ALTER TABLE users DROP COLUMN email",
                       ["users.email: model says VARCHAR(100) NOT NULL, database has no such column",
                        "users: model declares index ix_users_email (email), database has no such index"]),
    "changed-type": ("ALTER TABLE users ALTER COLUMN name TYPE text",
                     ["users.name: model says VARCHAR(50), database has TEXT"]),
    "missing-index": ("DROP INDEX ix_users_email",
                      ["users: model declares index ix_users_email (email), database has no such index"]),
    "nullability": ("ALTER TABLE users ALTER COLUMN name DROP NOT NULL",
                    ["users.name: model says NOT NULL, database has NULL"]),
    "primary-key": ("ALTER TABLE users DROP CONSTRAINT users_pkey",
                    ["users: model says primary key (id), database has (none)"]),
}


@pytest.mark.parametrize("use_alembic", [True, False], ids=["alembic", "inspector"])
@pytest.mark.parametrize("case", sorted(DRIFTS))
def test_drift_fails_with_the_exact_difference(lab_primary: LabCluster, new_db: NewDb, models: str,
                                               case: str, use_alembic: bool) -> None:
    from sqlalchemy import create_engine

    from neondoctor.sanity.drift import compare
    from neondoctor.sanity.target import load_metadata

    alter, expected = DRIFTS[case]
    db = new_db(ddl=(*USERS_DDL, alter))
    url = lab_primary.app_url(database=db)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            drift = compare(conn, load_metadata(models), use_alembic=use_alembic)
    finally:
        engine.dispose()
    assert drift.differences == sorted(expected)
    if use_alembic:  # the whole run, once per case, through the default (Alembic) comparison
        rows = user_rows(lab_primary, db)
        report = run_sanity(url, metadata_spec=models)
        assert statuses(report)["tables"] == "failed"
        assert report.step("tables").differences == sorted(expected)
        assert all(d in (report.step("tables").error or "") for d in expected)
        assert report.triage is None  # drift is no connection problem: no runbook claims it
        assert user_rows(lab_primary, db) == rows


@pytest.mark.parametrize("use_alembic", [True, False], ids=["alembic", "inspector"])
def test_extras_in_the_database_are_reported_not_failed(lab_primary: LabCluster, new_db: NewDb, models: str,
                                                        use_alembic: bool) -> None:
    from sqlalchemy import create_engine

    from neondoctor.sanity.drift import compare
    from neondoctor.sanity.target import load_metadata

    db = new_db(ddl=(*USERS_DDL, "ALTER TABLE users ADD COLUMN nickname text",
                     "CREATE TABLE audit_log (id int)", "CREATE INDEX ix_users_name ON users (name)"))
    engine = create_engine(lab_primary.app_url(database=db))
    try:
        with engine.connect() as conn:
            drift = compare(conn, load_metadata(models), use_alembic=use_alembic)
    finally:
        engine.dispose()
    assert drift.differences == []
    assert drift.extras == ["audit_log: table in the database, not in the models",
                            "users.nickname: column in the database (TEXT), not in the model",
                            "users: index ix_users_name (name) in the database, not in the model"]


# -- Alembic: the database at the head revision ---------------------------------------------------

def _alembic_project(root: Path, revisions: list[tuple[str, str | None]]) -> Path:
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = migrations\n")
    (root / "migrations" / "env.py").write_text("raise SystemExit('env.py must never run during sanity')\n")
    for rev, down in revisions:
        (root / "migrations" / "versions" / f"{rev}.py").write_text(
            f"revision = {rev!r}\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
            "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n")
    return root / "alembic.ini"


def test_alembic_one_revision_behind_names_both_revisions(
        lab_primary: LabCluster, new_db: NewDb, models: str, tmp_path: Path) -> None:
    ini = _alembic_project(tmp_path / "proj", [("a1b2c3", None), ("d4e5f6", "a1b2c3")])
    db = new_db(ddl=(*USERS_DDL, "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)",
                     "INSERT INTO alembic_version VALUES ('a1b2c3')"))
    url = lab_primary.app_url(database=db)
    for path in (str(ini), str(ini.parent)):
        report = run_sanity(url, metadata_spec=models, alembic=path)
        assert statuses(report)["migrations"] == "failed"
        assert report.step("migrations").error == ("database at revision a1b2c3, head is d4e5f6 (1 revision behind): "
                                                   "run `alembic upgrade head` before this deploy")
    lab_primary.execute("UPDATE alembic_version SET version_num = 'd4e5f6'", database=db)
    at_head = run_sanity(url, metadata_spec=models, alembic=str(ini))
    assert at_head.passed, at_head.to_json()
    assert at_head.step("migrations").detail == "database at the head revision d4e5f6"
    assert lab_primary.execute("SELECT version_num FROM alembic_version", database=db) == [("d4e5f6",)]


def test_alembic_unversioned_database_and_several_heads(
        lab_primary: LabCluster, new_db: NewDb, models: str, tmp_path: Path) -> None:
    url = lab_primary.app_url(database=new_db(ddl=USERS_DDL))
    ini = _alembic_project(tmp_path / "one", [("a1b2c3", None)])
    unversioned = run_sanity(url, metadata_spec=models, alembic=str(ini))
    assert "the database is unversioned (no alembic_version table); head is a1b2c3" in \
        (unversioned.step("migrations").error or "")
    forked = _alembic_project(tmp_path / "two", [("a1b2c3", None), ("b0b0b0", "a1b2c3"), ("c0c0c0", "a1b2c3")])
    report = run_sanity(url, metadata_spec=models, alembic=str(forked))
    assert "the migration scripts have 2 heads (b0b0b0, c0c0c0): merge them" in (report.step("migrations").error or "")


def test_alembic_bad_path_is_a_configuration_error(tmp_path: Path) -> None:
    proc = run_cli("sanity", "--alembic", "nowhere.ini", env={"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
                   cwd=tmp_path)
    assert proc.returncode == 2 and "--alembic nowhere.ini: no such file or directory" in proc.stderr
    assert not (tmp_path / "x.db").exists()


# -- read-only --------------------------------------------------------------------------------------

def _select_only_role(cluster: LabCluster, db: str, password: str) -> str:
    role = f"ro_{uuid.uuid4().hex[:8]}"
    cluster.create_role(role, password=password)
    cluster.execute(f'REVOKE ALL ON DATABASE "{db}" FROM PUBLIC')
    cluster.execute(f'GRANT CONNECT ON DATABASE "{db}" TO "{role}"')
    cluster.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC", database=db)
    cluster.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"', database=db)
    return cluster.url(user=role, password=password, database=db)


def test_read_only_passes_with_a_connect_and_select_role(
        lab_primary: LabCluster, new_db: NewDb, models: str, tmp_path: Path) -> None:
    db = new_db(ddl=(*USERS_DDL, "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)",
                     "INSERT INTO alembic_version VALUES ('a1b2c3')"))
    ini = _alembic_project(tmp_path / "proj", [("a1b2c3", None)])
    password = "Ro-Pw-" + uuid.uuid4().hex[:12]
    url = _select_only_role(lab_primary, db, password)
    before, rows = snapshot(lab_primary, db), user_rows(lab_primary, db)
    proc = run_cli("sanity", "--read-only", "--json", "--metadata", models, "--alembic", str(ini),
                   env={"DATABASE_URL": url}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    steps = {s["name"]: s for s in doc["steps"]}
    assert {n: s["status"] for n, s in steps.items()} == {
        "health": "passed", "migrations": "passed", "schema": "skipped", "tables": "passed",
        "round_trip": "passed", "restart": "skipped"}
    assert steps["schema"]["detail"] == "--read-only: no DDL, nothing created"
    assert "in a READ ONLY transaction" in steps["round_trip"]["detail"]
    assert steps["restart"]["detail"].startswith("no marker was written")
    assert password not in proc.stdout + proc.stderr
    assert snapshot(lab_primary, db) == before and user_rows(lab_primary, db) == rows
    assert schemas(lab_primary, db) == {"public"}
    # The same role without --read-only: the schema step is refused by the server, not by us.
    plain = run_sanity(url, metadata_spec=models)
    assert statuses(plain)["schema"] == "failed" and "permission denied" in (plain.step("schema").error or "")


def test_read_only_transactions_refuse_writes(lab_primary: LabCluster, new_db: NewDb) -> None:
    from sqlalchemy import text

    from neondoctor.sanity.target import make_engine, make_read_only, resolve_target

    db = new_db(ddl=USERS_DDL)
    target = resolve_target(lab_primary.app_url(database=db))
    engine = make_engine(target)
    make_read_only(engine, target)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW transaction_read_only")).scalar() == "on"
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "15s"  # still bounded
            with pytest.raises(Exception, match="read-only transaction"):
                conn.execute(text("UPDATE users SET name = name"))
    finally:
        engine.dispose()


# -- nothing lost when the server dies mid-run, with --no-create and --read-only --------------------

def test_killed_mid_run_with_no_create_and_read_only(make_cluster: Callable[..., LabCluster], tmp_path: Path) -> None:
    cluster = make_cluster()
    url = cluster.app_url()
    # The lab runs with synchronous_commit=off for speed: a commit may then not reach the WAL before
    # the server is killed, and crash recovery may rightly forget it (the cleanup of a run that passed
    # would come back as a leftover marker). Every session of this test commits durably.
    cluster.execute("ALTER DATABASE neondoctor_lab SET synchronous_commit = on")
    assert run_sanity(url).passed  # the budget tables exist; --no-create writes markers into them
    conn = cluster.connect(user="app", database="neondoctor_lab")
    with conn.cursor() as cur:
        # The lab runs with synchronous_commit=off for speed: this commit must reach the WAL before the
        # server is killed, or crash recovery may rightly forget it.
        cur.execute("SET synchronous_commit = on")
        cur.execute("INSERT INTO categories (name) VALUES ('food')")
    conn.close()
    keep = cluster.execute("SELECT xmin::text, ctid::text, c::text FROM categories c", database="neondoctor_lab")

    for options, crash_after in (({"no_create": True}, "round_trip"), ({"read_only": True}, "tables")):
        def crash(step: str, _report: SanityReport, when: str = crash_after) -> None:
            if step == when:
                cluster.kill()

        assert not run_sanity(url, after_step=crash, **options).passed
        cluster.start()
        again = run_sanity(url, **options)
        assert again.passed, again.to_json()
        markers = cluster.execute("SELECT count(*) FROM categories WHERE name LIKE 'neondoctor-sanity:%'",
                                  database="neondoctor_lab")
        assert markers == [(0,)]
        assert cluster.execute("SELECT count(*) FROM expenses", database="neondoctor_lab") == [(0,)]
        assert cluster.execute("SELECT xmin::text, ctid::text, c::text FROM categories c",
                               database="neondoctor_lab") == keep


# -- failure advice from the failing step's own evidence ------------------------------------------

def test_failure_advice_is_triaged_from_the_error(make_cluster: Callable[..., LabCluster], tmp_path: Path) -> None:
    cluster = make_cluster()
    password = "Adv-Pw-" + uuid.uuid4().hex[:10]
    cluster.create_role("adv", password=password)
    url = cluster.url(user="adv", password=password, database="postgres")
    cluster.stop()
    report = run_sanity(url, timeout=2)
    t = report.triage
    assert t is not None and t["runbook"] == "connect-failure"
    ruled = [r["id"] for r in t["ruled_out"]]
    assert ruled[:2] == ["no-database-url", "malformed-url"]  # the evidence rules them out
    assert t["verdict"] == "confirmed" and t["first_steps"][0]["id"] == "port-closed"
    assert all("DATABASE_URL is" not in s["cause"] for s in t["first_steps"])
    error = report.step("health").error or ""
    assert t["command"] == f"neondoctor triage {shlex.quote(error)}"
    assert shlex.split(t["command"])[2] == error  # the shell hands triage the exact error text
    proc = run_cli("sanity", env={"DATABASE_URL": url}, cwd=tmp_path)
    assert proc.returncode == 1
    assert "Ruled out by the evidence:" in proc.stdout and "Confirmed: " in proc.stdout
    check = proc.stdout.split("Check first:")[1].splitlines()[1]
    assert check.strip().startswith("1. Nothing accepts TCP connections on host:port")
    assert "not set" not in proc.stdout and "malformed" not in proc.stdout.split("Check first:")[1]
    assert "Walk it step by step: neondoctor triage '" in proc.stdout
    assert password not in proc.stdout + proc.stderr


# -- the restart child imports the driver only ------------------------------------------------------

def test_restart_child_imports_only_the_driver(lab_primary: LabCluster, new_db: NewDb) -> None:
    import os
    import subprocess
    import sys

    from neondoctor.sanity.restart import child_plan, child_source
    from neondoctor.sanity.target import make_engine, resolve_target

    db = new_db(ddl=USERS_DDL)
    target = resolve_target(lab_primary.app_url(database=db))
    engine = make_engine(target)
    try:
        plan = child_plan(engine, target, "marker", "no-such-token", 5)
    finally:
        engine.dispose()
    assert plan["dbapi"] == "psycopg2"
    plan["statements"][-1] = ("SELECT 'users row ' || min(id) FROM users", {})
    env = {**os.environ, "NEONDOCTOR_SANITY_PLAN": json.dumps(plan)}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-P", "-c", child_source()], env=env,
                          capture_output=True, text=True, timeout=60)
    assert json.loads(proc.stdout)["found"] == "users row 1", proc.stderr[-500:]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    assert "psycopg2" in imported
    assert not imported & {"sqlalchemy", "neondoctor", "structlog", "click"}


def test_restart_child_falls_back_to_sqlalchemy_for_wrapped_drivers(tmp_path: Path) -> None:
    import os
    import sqlite3
    import subprocess
    import sys

    from neondoctor.sanity.restart import child_source

    path = tmp_path / "c.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (token text)")
        conn.execute("INSERT INTO t VALUES ('tok')")
    plan = {"url": f"sqlite:///{path}", "kwargs": {},
            "statements": [("SELECT 'found ' || token FROM t WHERE token = :token", {"token": "tok"})]}
    proc = subprocess.run([sys.executable, "-P", "-c", child_source()], capture_output=True, text=True,
                          env={**os.environ, "NEONDOCTOR_SANITY_PLAN": json.dumps(plan)}, timeout=60)
    assert proc.returncode == 0 and json.loads(proc.stdout)["found"] == "found tok", proc.stderr
