"""neondoctor.db logs like a library: silent unless the app configures logging; the app's own
handler gets the pool events (checkout timeout, pre-ping invalidation, connect retry), redacted."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from dbvariants import VARIANTS, Variant
from sqlalchemy import exc

from neondoctor import db
from neondoctor.lab.cluster import LabCluster, free_port

SILENT_APP = textwrap.dedent("""
    import asyncio, os, time
    import psycopg2
    from sqlalchemy import text
    from neondoctor import db

    URL, SUPER, DEAD = os.environ["APP_URL"], os.environ["SUPER_DSN"], os.environ["DEAD_URL"]

    def terminate(name):
        with psycopg2.connect(SUPER) as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (name,))

    def sync_app(driver):
        url = URL.replace("postgresql+psycopg2", "postgresql+" + driver)
        engine = db.create_engine(url.replace("postgresql+", "postgres+", 0), pool_size=1, max_overflow=0,
                                  pool_timeout=0.3, application_name="silent-" + driver)
        assert db.check_health(engine).ok
        held = engine.connect()
        try:
            engine.connect()
        except Exception as e:
            assert "QueuePool limit" in str(e)
        held.close()
        terminate("silent-" + driver)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        dead = db.create_engine(DEAD.replace("postgresql+psycopg2", "postgresql+" + driver), connect_timeout=2)
        assert not db.check_health(dead, attempts=2, backoff=0.05).ok
        engine.dispose()
        # postgres:// logs a WARNING: without a NullHandler, Python's last-resort handler prints it.
        db.create_engine(URL.replace("postgresql+psycopg2://", "postgres://")).dispose()

    async def async_app(driver):
        url = URL.replace("postgresql+psycopg2", "postgresql+" + driver)
        engine = db.create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=0.3,
                                        application_name="silent-a" + driver)
        assert (await db.check_health_async(engine)).ok
        held = await engine.connect().start()
        try:
            await engine.connect().start()
        except Exception as e:
            assert "QueuePool limit" in str(e)
        await held.close()
        terminate("silent-a" + driver)
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        dead = db.create_async_engine(DEAD.replace("postgresql+psycopg2", "postgresql+" + driver), connect_timeout=2)
        assert not (await db.check_health_async(dead, attempts=2, backoff=0.05)).ok
        await engine.dispose()
        await dead.dispose()

    for d in ("psycopg2", "psycopg"):
        sync_app(d)
    for d in ("psycopg", "asyncpg"):
        asyncio.run(async_app(d))
    open(os.environ["DONE_FILE"], "w").write("done")
""")


def test_prints_nothing_when_the_app_configures_no_logging(lab_primary: LabCluster, tmp_path: Path) -> None:
    done = tmp_path / "done"
    env = {**os.environ, "APP_URL": lab_primary.app_url(), "DONE_FILE": str(done),
           "DEAD_URL": lab_primary.app_url(port=free_port()),
           "SUPER_DSN": f"host=127.0.0.1 port={lab_primary.port} user=postgres dbname=postgres "
                        f"password={lab_primary.state.superuser_password}"}
    env.pop("DATABASE_URL", None)
    proc = subprocess.run([sys.executable, "-c", SILENT_APP], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert done.read_text() == "done"  # the whole scenario ran: timeouts, a killed backend, failed retries
    assert proc.stdout == ""
    assert proc.stderr == ""


@pytest.fixture
def app_handler() -> Iterator[tuple[io.StringIO, list[logging.LogRecord]]]:
    """What an application does: its own handler and formatter on the root logger, level WARNING."""
    stream = io.StringIO()
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    text_handler = logging.StreamHandler(stream)
    text_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old = root.level
    # An app's process has no CLI logging set up: undo what an earlier test's configure_logging did.
    ours = logging.getLogger("neondoctor")
    ours_level, ours_handlers = ours.level, list(ours.handlers)
    ours.setLevel(logging.NOTSET)
    for handler in ours_handlers:
        ours.removeHandler(handler)
    keep = Keep()
    root.addHandler(text_handler)
    root.addHandler(keep)
    root.setLevel(logging.WARNING)
    try:
        yield stream, records
    finally:
        root.removeHandler(text_handler)
        root.removeHandler(keep)
        root.setLevel(old)
        ours.setLevel(ours_level)
        for handler in ours_handlers:
            ours.addHandler(handler)


def _terminate(lab: LabCluster, name: str) -> None:
    lab.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (name,))


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.id)
def test_the_apps_handler_receives_pool_events_without_the_password(
        variant: Variant, lab_primary: LabCluster, app_handler: tuple[io.StringIO, list[logging.LogRecord]]) -> None:
    stream, records = app_handler
    password = "Lg7-" + variant.driver + "-pw@/:#" + "q%z"
    user = f"logs_{variant.driver}_{'a' if variant.use_async else 's'}"
    lab_primary.create_role(user, password, grants=("app",))
    url = lab_primary.url(user=user, password=password, driver=variant.driver)
    name = f"logs-{variant.id}"

    async def body() -> None:
        engine = variant.make(url, pool_size=1, max_overflow=0, pool_timeout=0.3, application_name=name)
        held = await variant.checkout(engine)
        with pytest.raises(exc.TimeoutError):
            await variant.checkout(engine)  # checkout timeout
        await variant.release(held)
        _terminate(lab_primary, name)
        await asyncio.sleep(0.2)
        conn = await variant.checkout(engine)  # pre-ping finds the killed backend and replaces it
        await variant.release(conn)
        await variant.dispose(engine)
        refused = variant.make(lab_primary.url(user=user, password=password, driver=variant.driver,
                                               port=free_port()), connect_timeout=2)
        with pytest.raises(Exception):  # noqa: B017 - each driver raises its own class
            await variant.connect_with_retry(refused, attempts=2, backoff=0.05)
        await variant.dispose(refused)

    asyncio.run(body())
    # A driver error that quotes the URL itself: the redaction filter masks it before any handler.
    leaky = exc.OperationalError("connect", {}, Exception(f"could not connect to {url}"))
    with pytest.raises(exc.OperationalError):
        db.retrying(lambda: (_ for _ in ()).throw(leaky), attempts=2, backoff=0.01, what="db.connect")

    got = {getattr(r, "event", None) for r in records}
    assert {"pool.exhausted", "pool.full", "db.disconnect", "pool.invalidate", "db.connect.retry",
            "db.connect.failed"} <= got
    assert all(r.name == "neondoctor.db" for r in records), {(r.name, r.getMessage()) for r in records if r.name != "neondoctor.db"}
    exhausted = next(r for r in records if getattr(r, "event", None) == "pool.exhausted")
    assert exhausted.levelno == logging.ERROR and exhausted.checkedout == 1 and exhausted.engine == name  # type: ignore[attr-defined]
    ping = next(r for r in records if getattr(r, "event", None) == "db.disconnect")
    assert ping.fields["pre_ping"] is True  # type: ignore[attr-defined]
    text = stream.getvalue()
    assert "pool.exhausted" in text and "db.connect.retry" in text and "****" in text
    dumped = text + json.dumps([{k: repr(v) for k, v in vars(r).items()} for r in records])
    for form in (password, quote(password, safe=""), quote_plus(password)):
        assert form not in dumped
