"""`neondoctor sanity` against a real PostgreSQL from the lab and against SQLite."""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from neondoctor.lab import LabCluster
from neondoctor.sanity import STEP_NAMES, SanityReport, run_sanity

HAS_MATCHER = importlib.util.find_spec("neondoctor.matcher") is not None

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
    assert all(s.status == "passed" and s.duration_ms > 0 for s in report.steps)
    assert "created categories, expenses" in report.step("schema").detail
    assert f"(PostgreSQL {lab.major}." in report.step("health").detail
    # Step 5 ran in another process: its pid is in the detail and is not ours.
    restart = report.step("restart").detail
    child_pid = int(restart.split("pid ")[1].split(",")[0])
    assert child_pid != os.getpid()
    assert report.cleanup == "removed 2 marker rows"
    assert _marker_count(lab, name) == 0
    # A second run finds the tables and passes again.
    again = run_sanity(lab.app_url(database=name))
    assert again.passed and "already existed" in again.step("schema").detail


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
    assert _statuses(report) == {"health": "passed", "schema": "passed", "tables": "passed",
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


