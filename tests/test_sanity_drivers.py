"""`neondoctor sanity` in every driver, sync and async: it passes, its fresh-process step reads the
marker back in the same driver, and it leaves no marker row behind. Real lab, real CLI process."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from neondoctor.lab.cluster import LabCluster

DRIVERS = ["psycopg2", "psycopg", "psycopg_async", "asyncpg"]
USER_MODELS = '''
from sqlalchemy import Column, Integer, MetaData, String, Table

metadata = MetaData()
Table("widgets", metadata, Column("id", Integer, primary_key=True), Column("name", String(40)))
'''


@pytest.fixture
def database(lab_primary: LabCluster) -> Iterator[str]:
    name = f"sanity_drv_{uuid.uuid4().hex[:8]}"
    lab_primary.execute(f'CREATE DATABASE "{name}" OWNER app')
    try:
        yield name
    finally:
        lab_primary.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("driver", DRIVERS)
def test_sanity_passes_and_cleans_up_in_every_driver(lab_primary: LabCluster, database: str, driver: str,
                                                      cli: Any, tmp_path: Any) -> None:
    query = {} if driver == "asyncpg" else {"connect_timeout": "5"}  # asyncpg takes no libpq parameters
    url = lab_primary.app_url(database=database, driver=driver, query=query)
    with lab_primary.connect(user="app", database=database) as conn, conn.cursor() as cur:  # the app's migration
        cur.execute("CREATE TABLE widgets (id serial PRIMARY KEY, name varchar(40))")
    (tmp_path / "usermodels.py").write_text(USER_MODELS)
    for extra in ([], ["--metadata", "usermodels:metadata"]):
        proc = cli("sanity", "--json", *extra, env={"DATABASE_URL": url}, cwd=tmp_path)
        doc = json.loads(proc.stdout)
        assert proc.returncode == 0, json.dumps(doc, indent=1)[-3000:] + proc.stderr
        assert doc["driver"] == driver and doc["passed"]
        assert {s["name"]: s["status"] for s in doc["steps"]}["restart"] == "passed"
        assert lab_primary.state.app_password not in proc.stdout + proc.stderr
    leftover = lab_primary.execute("SELECT count(*) FROM neondoctor.sanity_marker", database=database)
    assert leftover == [(0,)]
