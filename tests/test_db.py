"""neondoctor.app.db, the engine factory, against real lab clusters."""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import pytest
import sqlalchemy
from _dblog import capture, reset_logging
from sqlalchemy import exc, text

from neondoctor.app import db
from neondoctor.errors import ConfigError
from neondoctor.lab.cluster import LabCluster, LabSpec, free_port
from neondoctor.log import configure_logging


@pytest.fixture(autouse=True)
def _reset_stdlib_logging() -> Any:
    yield
    reset_logging()


def _events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == name]


def _terminate(lab: LabCluster, application_name: str) -> int:
    rows = lab.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                       (application_name,))
    return len(rows)


# ------------------------------------------------------------------ factory settings


def test_default_profile_settings(lab: LabCluster) -> None:
    engine = db.create_engine(lab.app_url())
    pool = engine.pool
    assert isinstance(pool, sqlalchemy.pool.QueuePool)
    assert (pool.size(), pool._max_overflow, pool._recycle, pool._pre_ping, pool.timeout()) == (5, 10, 3600, True, 30)
    engine.dispose()


def test_small_profile_and_overrides(lab: LabCluster) -> None:
    small = db.create_engine(lab.app_url(), profile="small")
    assert (small.pool.size(), small.pool._max_overflow) == (3, 5)
    custom = db.create_engine(lab.app_url(), profile="small", pool_size=2, max_overflow=0, pool_recycle=60,
                              pool_timeout=3)
    assert (custom.pool.size(), custom.pool._max_overflow, custom.pool._recycle, custom.pool.timeout()) == (2, 0, 60, 3)
    with pytest.raises(ConfigError, match="profile"):
        db.create_engine(lab.app_url(), profile="huge")


def test_application_name_and_connect_timeout_reach_the_server(lab: LabCluster) -> None:
    engine = db.create_engine(lab.app_url(query={}), application_name="billing-worker", connect_timeout=7)
    with engine.connect() as conn:
        assert conn.execute(text("SHOW application_name")).scalar_one() == "billing-worker"
        dsn = conn.connection.dbapi_connection.get_dsn_parameters()
        assert dsn["connect_timeout"] == "7"
    engine.dispose()


def test_url_connect_timeout_may_only_shorten(lab: LabCluster) -> None:
    forever = db.create_engine(lab.app_url(query={"connect_timeout": "0"}))
    shorter = db.create_engine(lab.app_url(query={"connect_timeout": "3"}))
    for engine, expected in ((forever, "10"), (shorter, "3")):
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection.get_dsn_parameters()["connect_timeout"] == expected
        engine.dispose()


def test_bare_postgresql_follows_sqlalchemys_default(lab: LabCluster) -> None:
    from neondoctor.app.db.urls import sqlalchemy_default_driver

    with capture() as logs:
        engine = db.create_engine(lab.app_url(driver=None))
    expected = "psycopg" if sqlalchemy.__version__.startswith("2.1") else "psycopg2"
    assert sqlalchemy_default_driver() == expected and engine.dialect.driver == expected
    chosen = _events(logs, "db.url.driver")[0]
    assert chosen["driver"] == expected and f"SQLAlchemy {sqlalchemy.__version__} picks {expected}" in chosen["reason"]
    assert db.check_health(engine).ok
    engine.dispose()


def test_postgres_scheme_is_rewritten_with_a_warning(lab: LabCluster) -> None:
    raw = lab.app_url(driver=None).replace("postgresql://", "postgres://", 1)
    with capture() as logs:
        engine = db.create_engine(raw)
    warning = _events(logs, "db.url.normalized")
    assert warning and warning[0]["log_level"] == "warning"
    assert engine.url.drivername in ("postgresql+psycopg2", "postgresql+psycopg")
    assert db.check_health(engine).ok
    engine.dispose()


def test_url_from_database_url_env(lab: LabCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", lab.app_url())
    engine = db.create_engine()
    assert engine.url.port == lab.port
    engine.dispose()
    monkeypatch.delenv("DATABASE_URL")
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        db.create_engine()


def test_unsupported_or_missing_driver_is_a_config_error() -> None:
    from neondoctor.audit.url_audit import driver_installed

    with pytest.raises(ConfigError, match="create_async_engine"):
        db.create_engine("postgresql+asyncpg://u@localhost/db")
    with pytest.raises(ConfigError, match="psycopg2 has no asyncio support"):
        db.create_async_engine("postgresql+psycopg2://u@localhost/db")
    with pytest.raises(ConfigError, match="builds sync engines"):
        db.create_engine("postgresql+pg8000://u@localhost/db")
    if not driver_installed("psycopg"):
        with pytest.raises(ConfigError, match="psycopg is not installed"):
            db.create_engine("postgresql+psycopg://u@localhost/db")


# ------------------------------------------------------------------ health, sessions


def test_check_health_logs_at_start_up(lab: LabCluster) -> None:
    engine = db.create_engine(lab.app_url())
    with capture() as logs:
        health = db.check_health(engine)
    assert health.ok and health.server_version and health.server_version.startswith(str(lab.major))
    event = _events(logs, "db.health")[0]
    assert event["ok"] is True and event["log_level"] == "info" and "latency_ms" in event
    engine.dispose()


def test_check_health_reports_failure_without_raising(lab: LabCluster) -> None:
    engine = db.create_engine(lab.app_url(port=free_port()), connect_timeout=2)
    with capture() as logs:
        health = db.check_health(engine, attempts=1)
    assert not health.ok and health.error and "OperationalError" in health.error
    assert _events(logs, "db.health")[0]["log_level"] == "error"


def test_session_scope_commits_rolls_back_and_closes(lab: LabCluster) -> None:
    engine = db.create_engine(lab.app_url())
    table = f"scope_{lab.major}_{int(time.time() * 1000)}"
    with db.session_scope(engine) as session:
        session.execute(text(f"CREATE TABLE {table} (n int)"))
        session.execute(text(f"INSERT INTO {table} VALUES (1)"))
    with pytest.raises(RuntimeError), db.session_scope(engine) as session:
        session.execute(text(f"INSERT INTO {table} VALUES (2)"))
        raise RuntimeError("boom")
    assert engine.pool.checkedout() == 0  # closed after the error too
    factory = db.make_sessionmaker(engine)
    with db.session_scope(factory) as session:
        assert session.execute(text(f"SELECT array_agg(n) FROM {table}")).scalar_one() == [1]
        session.execute(text(f"DROP TABLE {table}"))
    assert engine.pool.checkedout() == 0
    engine.dispose()


# ------------------------------------------------------------------ killed backends


def test_pre_ping_recovers_from_terminated_backends_and_logs_it(lab: LabCluster) -> None:
    name = f"prepin-{lab.major}"
    engine = db.create_engine(lab.app_url(), application_name=name, pool_size=2)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert _terminate(lab, name) == 1
    with capture() as logs, engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    assert _events(logs, "pool.invalidate")
    disconnect = _events(logs, "db.disconnect")
    assert disconnect and disconnect[0]["pre_ping"] is True
    assert "OperationalError" in disconnect[0]["error"]
    reconnect = _events(logs, "pool.connect")
    assert reconnect and reconnect[-1]["reconnect"] is True
    engine.dispose()


def test_without_pre_ping_the_failure_shows(lab: LabCluster) -> None:
    name = f"noping-{lab.major}"
    engine = db.create_engine(lab.app_url(), application_name=name, pool_pre_ping=False)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert _terminate(lab, name) == 1
    with capture() as logs:
        with pytest.raises(exc.OperationalError) as info, engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert info.value.connection_invalidated
        assert _events(logs, "db.disconnect")[0]["pre_ping"] is False
        # The pool discarded the dead connection: the next checkout connects afresh.
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    assert _events(logs, "pool.invalidate")
    assert _events(logs, "pool.connect")[-1]["reconnect"] is True
    engine.dispose()


# ------------------------------------------------------------------ exhaustion, retries


def test_pool_exhaustion_is_logged_with_counts_and_timestamp(lab: LabCluster) -> None:
    # Through the CLI's own rendering (log.py bridges the stdlib records into structlog JSON).
    stream = io.StringIO()
    configure_logging("json", level="debug", stream=stream)
    engine = db.create_engine(lab.app_url(), pool_size=1, max_overflow=0, pool_timeout=1)
    held = engine.connect()
    try:
        with pytest.raises(exc.TimeoutError):
            engine.connect()
    finally:
        held.close()
        engine.dispose()
    import json

    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    full = [e for e in events if e["event"] == "pool.full"]
    exhausted = [e for e in events if e["event"] == "pool.exhausted"]
    assert full and full[0]["checkedout"] == 1
    assert exhausted and exhausted[0]["checkedout"] == 1 and exhausted[0]["capacity"] == 1
    assert exhausted[0]["waited_s"] >= 0.9 and exhausted[0]["timestamp"].endswith("Z")
    assert exhausted[0]["at"].endswith("Z") and exhausted[0]["logger"] == "neondoctor.db"


def test_retry_gives_up_after_bounded_attempts(lab: LabCluster) -> None:
    engine = db.create_engine(lab.app_url(port=free_port()), connect_timeout=2)
    started = time.monotonic()
    with capture() as logs, pytest.raises(exc.OperationalError):
        db.connect_with_retry(engine, attempts=3, backoff=0.1)
    retries = _events(logs, "db.connect.retry")
    assert [r["attempt"] for r in retries] == [1, 2]
    assert [r["retry_in_s"] for r in retries] == [0.1, 0.2]
    assert _events(logs, "db.connect.failed")[0]["attempt"] == 3
    assert time.monotonic() - started < 10


def test_retry_does_not_retry_bad_credentials(lab: LabCluster) -> None:
    engine = db.create_engine(lab.app_url(password="not-the-password-Kz8"))
    with capture() as logs, pytest.raises(exc.OperationalError, match="password authentication failed"):
        db.connect_with_retry(engine, attempts=3, backoff=0.1)
    assert not _events(logs, "db.connect.retry")
    assert _events(logs, "db.connect.failed")[0]["transient"] is False


def test_retry_recovers_when_the_server_comes_back(make_cluster: Any) -> None:
    cluster = make_cluster(LabSpec(max_connections=20))
    engine = db.create_engine(cluster.app_url(), connect_timeout=2)
    cluster.stop()
    starter = threading.Timer(1.0, cluster.start)
    starter.start()
    try:
        with capture() as logs:
            conn = db.connect_with_retry(engine, attempts=8, backoff=0.5, max_backoff=1.0)
            conn.close()
    finally:
        starter.join()
        engine.dispose()
    assert _events(logs, "db.connect.retry")
    assert _events(logs, "db.connect.recovered")[0]["retries"] >= 1


# ------------------------------------------------------------------ redaction


def test_log_output_never_holds_the_password(lab: LabCluster) -> None:
    password = "Rd7-" + "db-Xq3@/:#" + "p%w"
    lab.create_role(f"leaky_{lab.major}", password, grants=("app",))
    stream = io.StringIO()
    configure_logging("json", level="debug", stream=stream)
    good = db.create_engine(lab.url(user=f"leaky_{lab.major}", password=password))
    assert db.check_health(good).ok
    good.dispose()
    bad = db.create_engine(lab.url(user=f"leaky_{lab.major}", password=password, port=free_port()),
                           connect_timeout=2)
    assert not db.check_health(bad, attempts=2, backoff=0.1).ok
    from urllib.parse import quote, quote_plus

    out = stream.getvalue()
    assert "db.health" in out and "db.connect.retry" in out
    for form in (password, quote(password, safe=""), quote_plus(password)):
        assert form not in out
