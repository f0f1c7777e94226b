"""engine: the app's engine settings (pool_pre_ping, pool size), from --engine or a static read.

The static read uses Python's parser: comments, docstrings and strings are not calls. No server is
needed: the probe reads files (or imports a module that builds an engine without connecting), and
the context is the real ProbeContext.
"""

from __future__ import annotations

from pathlib import Path

from neondoctor.triage.probes import engine
from neondoctor.triage.probes.base import ProbeContext

APP = '''"""Usage: engine = create_engine(url)  # a docstring, not a call"""
import os
from sqlalchemy import create_engine

# engine = create_engine(os.environ["DATABASE_URL"])   <- the old one, kept as a comment
HELP = "call create_engine(url) with pool_pre_ping=False to break things"
engine = create_engine(
    os.environ["DATABASE_URL"],
    pool_pre_ping=True,   # create_engine( in a trailing comment
    pool_size=7, max_overflow=-1, pool_recycle=300, pool_timeout=2.5,
)
'''


def _ctx(root: Path) -> ProbeContext:
    return ProbeContext(cwd=root)


def test_only_real_calls_count_and_keywords_are_read(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    found = engine.from_source(tmp_path)
    assert len(found) == 1
    e = found[0]
    assert (e.pre_ping, e.pool_size, e.max_overflow, e.recycle, e.timeout) == (True, 7, -1, 300.0, 2.5)
    assert e.where == "create_engine at app.py:7"
    result = engine.run(_ctx(tmp_path), {"check": "pre_ping"})
    assert result.status == "ruled_out", result.evidence


def test_a_comment_cannot_confirm_missing_pre_ping(tmp_path: Path) -> None:
    # The only engine pre-pings; the text search of old counted the commented-out call as "no pre-ping".
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "notes.py").write_text('"""\nengine = create_engine(URL)\n"""\n# create_engine(URL)\nx = "create_engine(URL)"\n')
    result = engine.run(_ctx(tmp_path), {"check": "pre_ping"})
    assert result.status == "ruled_out", result.evidence


def test_missing_pre_ping_is_confirmed(tmp_path: Path) -> None:
    (tmp_path / "db.py").write_text("import sqlalchemy as sa\nengine = sa.create_engine('sqlite://', pool_size=2)\n")
    result = engine.run(_ctx(tmp_path), {"check": "pre_ping"})
    assert result.status == "confirmed" and "db.py:2" in result.evidence


def test_a_value_that_is_not_a_literal_is_unknown_not_off(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from sqlalchemy import create_engine as make\nimport settings\n"
                                   "e1 = make(URL, pool_pre_ping=settings.PING)\n")
    (tmp_path / "b.py").write_text("from sqlalchemy.ext.asyncio import create_async_engine\n"
                                   "e2 = create_async_engine(URL, **OPTIONS)\n")
    found = engine.from_source(tmp_path)
    assert [e.pre_ping for e in found] == [None, None]
    result = engine.run(_ctx(tmp_path), {"check": "pre_ping"})
    assert result.status == "inconclusive" and "--engine" in result.evidence


def test_neondoctors_own_factory_pre_pings_by_default(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("from neondoctor.db import create_engine\nengine = create_engine(profile='small')\n")
    assert [e.pre_ping for e in engine.from_source(tmp_path)] == [True]


def test_unparsable_and_huge_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("engine = create_engine(URL,\n")  # a syntax error
    (tmp_path / "deep.py").write_text("x = " + "(" * 5000 + "create_engine()" + ")" * 5000 + "\n")
    (tmp_path / "nul.py").write_bytes(b"create_engine(\x00)\n")
    assert engine.from_source(tmp_path) == []
    result = engine.run(_ctx(tmp_path), {"check": "pre_ping"})
    assert result.status == "inconclusive"


def test_pool_capacity_reads_the_literal_sizes(tmp_path: Path) -> None:
    (tmp_path / "db.py").write_text("from sqlalchemy import create_engine\n"
                                    "engine = create_engine(URL, pool_pre_ping=True, pool_size=1, max_overflow=0)\n")
    assert engine.run(_ctx(tmp_path), {"check": "pool_capacity", "min_capacity": 5}).status == "confirmed"
    assert engine.run(_ctx(tmp_path), {"check": "pool_capacity", "min_capacity": 1}).status == "ruled_out"


def test_nothing_to_read_is_inconclusive(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("print('no engine here')\n")
    result = engine.run(_ctx(tmp_path), {})
    assert result.status == "inconclusive"
    assert "no --engine given and no create_engine( call found" in result.evidence
    assert "pass --engine module:attr" in result.evidence


def test_the_engine_object_itself_is_read_with_engine_ref(tmp_path: Path) -> None:
    """--engine MOD:ATTR imports the app's module (no connection is made) and reads the real engine."""
    (tmp_path / "probeapp_db.py").write_text(
        "from sqlalchemy import create_engine\n"
        "pinged = create_engine('postgresql+psycopg2://app@db/app', pool_pre_ping=True, pool_size=3)\n"
        "plain = create_engine('postgresql+psycopg2://app@db/app', pool_size=3)\n")
    ctx = ProbeContext(cwd=tmp_path, engine_ref="probeapp_db:pinged")
    result = engine.run(ctx, {"check": "pre_ping"})
    assert result.status == "ruled_out" and "engine probeapp_db:pinged" in result.evidence
    ctx = ProbeContext(cwd=tmp_path, engine_ref="probeapp_db:plain")
    result = engine.run(ctx, {"check": "pre_ping"})
    assert result.status == "confirmed" and "pool_pre_ping=False" in result.evidence
