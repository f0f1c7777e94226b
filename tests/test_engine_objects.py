"""`--engine module:attr` with what apps really hold: pool-stats and the triage engine probe."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from conftest import run_cli

from neondoctor.lab.cluster import LabCluster
from neondoctor.triage.probes.engine import from_object

APPS = {
    "sessionmaker": """
        import os
        from sqlalchemy import create_engine
        from sqlalchemy.orm import sessionmaker
        engine = create_engine(os.environ["DATABASE_URL"], pool_size=3, max_overflow=2, pool_pre_ping=True)
        target = sessionmaker(bind=engine)
        held = [engine.connect() for _ in range(2)]
    """,
    "async_engine": """
        import os
        from neondoctor.db import create_async_engine
        target = create_async_engine(os.environ["DATABASE_URL"].replace("+psycopg2", "+asyncpg"), pool_size=3,
                                     max_overflow=2)
    """,
    "async_sessionmaker": """
        import os
        from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
        target = async_sessionmaker(create_async_engine(
            os.environ["DATABASE_URL"].replace("+psycopg2", "+psycopg"), pool_size=3, max_overflow=2))
    """,
    "psycopg_pool": """
        import os
        import psycopg_pool
        from sqlalchemy.engine import make_url
        u = make_url(os.environ["DATABASE_URL"])
        target = psycopg_pool.ConnectionPool(
            f"host={u.host} port={u.port} user={u.username} password={u.password} dbname={u.database}",
            min_size=3, max_size=5, timeout=10, open=True)
        target.wait(timeout=10)
        held = [target.getconn() for _ in range(2)]
    """,
}


def _write_app(tmp_path: Path, kind: str) -> str:
    module = f"app_{kind}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(APPS[kind]))
    return f"{module}:target"


@pytest.mark.parametrize("kind", list(APPS))
def test_pool_stats_reads_each_kind(kind: str, lab_primary: LabCluster, tmp_path: Path) -> None:
    ref = _write_app(tmp_path, kind)
    result = run_cli("pool-stats", "--json", "--engine", ref, "--processes", "2",
                     env={"DATABASE_URL": lab_primary.app_url()}, cwd=tmp_path, timeout=90)
    assert "Traceback" not in result.stderr, result.stderr
    doc = json.loads(result.stdout)
    eng = doc["engine"]
    assert (eng["size"], eng["max_overflow"]) == (3, 2)
    assert doc["sizing"] == {"processes": 2, "pool_size": 3, "max_overflow": 2, "demand": 10}
    if kind in ("sessionmaker", "psycopg_pool"):
        assert eng["checked_out"] == 2


def test_pool_stats_refuses_other_objects_clearly(lab_primary: LabCluster, tmp_path: Path) -> None:
    (tmp_path / "notpool.py").write_text("target = {'pool_size': 5}\n")
    result = run_cli("pool-stats", "--engine", "notpool:target", env={"DATABASE_URL": lab_primary.app_url()},
                     cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "builtins.dict is not a SQLAlchemy Engine/AsyncEngine/sessionmaker" in result.stderr + result.stdout


@pytest.mark.parametrize("kind", ["sessionmaker", "async_engine", "psycopg_pool"])
def test_engine_probe_reads_each_kind(kind: str, lab_primary: LabCluster, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", lab_primary.app_url())
    ref = _write_app(tmp_path, kind)
    settings = from_object(ref, tmp_path)
    assert (settings.pool_size, settings.max_overflow) == (3, 2)
    assert settings.pre_ping is (kind != "psycopg_pool")  # no check= callback given to that pool
    assert "pool_pre_ping=" in settings.describe()
