"""A recording on disk: one SQLite file (standard library), one compact row per sample.

Why SQLite: every sample is its own committed transaction in WAL mode with synchronous=FULL, so a
killed recorder loses at most the sample it was writing, and the same file is simply reopened and
appended to. Rows are written and forgotten: the recorder's memory does not grow with the recording.

Row kinds: `sample` (the numbers), `gap` (the server could not be sampled from `t` to `t_end`, with
the reason; `full` when it refused neondoctor because its slots were full), `start`/`stop` (the recorder itself; a `start` with no `stop` before it means the
previous recorder died), `pause` (respecting Neon's scale to zero: nothing sampled until `t_end`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neondoctor.errors import ConfigError
from neondoctor.pool_stats.model import Snapshot

FORMAT = "neondoctor-pool-stats-1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
  id INTEGER PRIMARY KEY,
  t REAL NOT NULL,            -- unix time of the sample (or start of the gap/pause)
  kind TEXT NOT NULL,         -- sample | gap | full | pause | start | stop
  t_end REAL,                 -- end of a gap or pause
  in_use INTEGER, available INTEGER, max_connections INTEGER,
  superuser_reserved INTEGER, reserved INTEGER,
  active INTEGER, idle INTEGER, idle_in_transaction INTEGER, hidden INTEGER,
  idle_in_transaction_max_age_s REAL,
  pooler_waiting INTEGER,     -- PgBouncer clients waiting (SHOW POOLS cl_waiting), NULL if not watched
  groups TEXT,                -- {"a": {app: [conns, active, idle, iit, hidden, iit_age]}, "u": {user: [...]}}
  note TEXT                   -- why a gap/pause/start happened (redacted)
);
CREATE INDEX IF NOT EXISTS samples_t ON samples (t);
"""

GROUP_FIELDS = ("connections", "active", "idle", "idle_in_transaction", "hidden", "iit_age_s")
ROW_COLUMNS = ("t", "kind", "t_end", "in_use", "available", "max_connections", "superuser_reserved", "reserved",
               "active", "idle", "idle_in_transaction", "hidden", "idle_in_transaction_max_age_s",
               "pooler_waiting", "groups", "note")
COUNTS = ("in_use", "available", "max_connections", "superuser_reserved", "active", "idle",
          "idle_in_transaction", "hidden")


@dataclass(frozen=True)
class Row:
    """One row of a recording, as the report reads it."""

    t: float
    kind: str
    t_end: float | None = None
    in_use: int = 0
    available: int = 0
    max_connections: int = 0
    superuser_reserved: int = 0
    reserved: int | None = None
    active: int = 0
    idle: int = 0
    idle_in_transaction: int = 0
    hidden: int = 0
    idle_in_transaction_max_age_s: float | None = None
    pooler_waiting: int | None = None
    groups: dict[str, dict[str, list[Any]]] | None = None
    note: str | None = None


def sample_row(snap: Snapshot, pooler_waiting: int | None = None) -> dict[str, Any]:
    """The compact row for one snapshot: totals as columns, attribution as one small JSON text."""
    def compact(groups: list[Any]) -> dict[str, list[Any]]:
        return {g.key: [g.connections, g.active, g.idle, g.idle_in_transaction, g.hidden,
                        g.longest_idle_in_transaction_s] for g in groups}

    ages = [g.longest_idle_in_transaction_s for g in snap.by_application if g.longest_idle_in_transaction_s]
    s = snap.server
    return {
        "t": snap.taken_at, "kind": "sample", "in_use": s.in_use, "available": s.available,
        "max_connections": s.max_connections, "superuser_reserved": s.superuser_reserved_connections,
        "reserved": s.reserved_connections, "active": snap.active, "idle": snap.by_state.get("idle", 0),
        "idle_in_transaction": snap.idle_in_transaction, "hidden": snap.visibility.hidden,
        "idle_in_transaction_max_age_s": max(ages) if ages else None, "pooler_waiting": pooler_waiting,
        "groups": json.dumps({"a": compact(snap.by_application), "u": compact(snap.by_user)},
                             separators=(",", ":")),
    }


class Store:
    """Append-only writer. Opening an existing recording of the same target resumes it."""

    def __init__(self, path: str | Path, *, target: str, interval_s: float) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_file():
            raise ConfigError(f"--out {self.path}: not a regular file")
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=5)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(SCHEMA)
        except sqlite3.OperationalError as exc:  # a missing directory, no permission
            raise ConfigError(f"--out {self.path}: cannot open ({exc})") from None
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"--out {self.path}: not a neondoctor recording ({exc})") from None
        meta = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        if meta and meta.get("format") != FORMAT:
            raise ConfigError(f"--out {self.path}: not a neondoctor recording (format {meta.get('format')!r})")
        if meta and meta.get("target") != target:
            raise ConfigError(f"--out {self.path}: records another server ({meta.get('target')}); "
                              "use another file")
        if not meta:
            self._write_meta({"format": FORMAT, "target": target, "interval_s": repr(interval_s)})
        self._open_gap: int | None = None
        self.resumed = bool(self.db.execute("SELECT 1 FROM samples LIMIT 1").fetchone())

    def _write_meta(self, values: dict[str, str]) -> None:
        with self._tx():
            self.db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", values.items())

    def _tx(self) -> Any:
        return _Transaction(self.db)

    def add(self, row: dict[str, Any]) -> int:
        """Write one row and commit it: after this returns, a crash cannot lose it."""
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        try:
            with self._tx():
                cur = self.db.execute(f"INSERT INTO samples ({cols}) VALUES ({marks})", tuple(row.values()))
        except sqlite3.Error as exc:  # disk full, file removed, read-only mount: say so, no traceback
            raise ConfigError(f"cannot write the recording {self.path}: {exc}") from None
        if row.get("kind") == "sample":
            self._open_gap = None
        return int(cur.lastrowid or 0)

    def event(self, kind: str, t: float, note: str | None = None, t_end: float | None = None) -> int:
        return self.add({"t": t, "kind": kind, "note": note, "t_end": t_end})

    def gap(self, t: float, note: str, kind: str = "gap") -> bool:
        """The server could not be sampled at `t`: open a gap row (True), or stretch the open one (False)."""
        if self._open_gap is None:
            self._open_gap = self.event(kind, t, note, t_end=t)
            return True
        with self._tx():
            self.db.execute("UPDATE samples SET t_end = ? WHERE id = ?", (t, self._open_gap))
        return False

    def count(self, kind: str) -> int:
        row = self.db.execute("SELECT count(*) FROM samples WHERE kind = ?", (kind,)).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        try:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self.db.close()


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def read_meta(path: str | Path) -> dict[str, str]:
    with _ReadOnly(path) as db:
        return dict(db.execute("SELECT key, value FROM meta").fetchall())


def read_rows(path: str | Path) -> Iterator[Row]:
    """Every row in time order (a stream: a day at a short interval need not fit in memory twice)."""
    with _ReadOnly(path) as db:
        cur = db.execute(f"SELECT {', '.join(ROW_COLUMNS)} FROM samples ORDER BY t, id")
        for rec in cur:
            data = dict(zip(ROW_COLUMNS, rec, strict=True))
            data["groups"] = json.loads(data["groups"]) if data["groups"] else None
            # Counts are NULL on event rows: read them as 0; the optional values stay None.
            yield Row(**{k: 0 if v is None and k in COUNTS else v for k, v in data.items()})


class _ReadOnly:
    def __init__(self, path: str | Path) -> None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: no such recording (make one with `neondoctor pool-stats record --out {p}`)")
        self.path = p

    def __enter__(self) -> sqlite3.Connection:
        try:
            # Not mode=ro: a reader of a WAL file may need to create the -shm file beside it.
            self.db = sqlite3.connect(self.path, timeout=5)
            meta = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{self.path}: not a neondoctor recording ({exc})") from None
        if meta.get("format") != FORMAT:
            self.db.close()
            raise ConfigError(f"{self.path}: not a neondoctor recording")
        return self.db

    def __exit__(self, *_: Any) -> None:
        self.db.close()
