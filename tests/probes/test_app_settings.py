"""app_settings: what the app sends through a transaction-mode pooler (prepared statements, startup parameters).

The app's code is a file in the working directory, read statically; whether the URL is pooled comes
from Neon's host name or a real PgBouncer (tests/probes/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

from neondoctor.lab.cluster import LabCluster
from neondoctor.triage.probes.app_settings import PROBE

from .kit import closed_port, context, expect

NEON_POOLED = "postgresql+asyncpg://app@ep-cool-1-pooler.us-east-2.aws.neon.tech/app"
STARTUP = ("from sqlalchemy.ext.asyncio import create_async_engine\n"
           "engine = create_async_engine(URL, connect_args={'server_settings': {'jit': 'off'}})\n")
CACHE_OFF = ("from sqlalchemy.ext.asyncio import create_async_engine\n"
             "engine = create_async_engine(URL, connect_args={'statement_cache_size': 0})\n")


def test_untracked_startup_parameters_through_a_pooler(tmp_path: Path) -> None:
    ctx = context(NEON_POOLED, cwd=tmp_path)
    expect(PROBE.run(ctx, {"check": "startup_parameters"}), "ruled_out", "no untracked startup parameter")
    (tmp_path / "db.py").write_text(STARTUP)
    expect(PROBE.run(ctx, {"check": "startup_parameters"}), "confirmed", "server_settings jit=off (db.py:2)")


def test_neons_pooler_keeps_prepared_statements(tmp_path: Path) -> None:
    expect(PROBE.run(context(NEON_POOLED, cwd=tmp_path), {}), "ruled_out",
           "Neon's pooler keeps protocol-level prepared statements")


def test_prepared_statements_through_pgbouncer(pgbouncer_lab: LabCluster, no_prepared_evidence: str,
                                               tmp_path: Path) -> None:
    ctx = context(pgbouncer_lab.pooler().url(user="postgres"), cwd=tmp_path)  # PgBouncer's admin: config readable
    expect(PROBE.run(ctx, {"check": "prepared_statements"}), "confirmed", no_prepared_evidence,
           "nothing in DATABASE_URL or the code turns the driver's named prepared statements off")
    (tmp_path / "db.py").write_text(CACHE_OFF)
    expect(PROBE.run(ctx, {"check": "prepared_statements"}), "ruled_out",
           "the app turns named prepared statements off: statement_cache_size=0 (db.py:2)")


def test_a_direct_url_is_ruled_out(pgbouncer_lab: LabCluster, tmp_path: Path) -> None:
    (tmp_path / "db.py").write_text(STARTUP)
    expect(PROBE.run(context(pgbouncer_lab.app_url(), cwd=tmp_path), {"check": "startup_parameters"}), "ruled_out",
           "the URL connects to the server directly")


def test_unknown_pooling_or_no_url_is_inconclusive(tmp_path: Path) -> None:
    ctx = context(f"postgresql://app@127.0.0.1:{closed_port()}/app?connect_timeout=3", cwd=tmp_path)
    expect(PROBE.run(ctx, {}), "inconclusive", "cannot tell whether the URL goes through a pooler")
    expect(PROBE.run(context(None), {}), "inconclusive", "DATABASE_URL is not set")
