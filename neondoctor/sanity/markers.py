"""Marker rows and the run's liveness lock: what the round trip writes, and how leftovers are found."""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING

from neondoctor.sanity.target import Target

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine, MetaData, Table

MARKER_PREFIX = "neondoctor-sanity:"
LEFTOVER_AGE = 3600  # seconds: markers older than this belong to an interrupted run
MARKER_TABLE = "neondoctor_sanity_marker"  # SQLite (no schemas); an older layout on PostgreSQL
OWN_SCHEMA = "neondoctor"  # PostgreSQL: neondoctor's own objects live here, never in the app's schema
MARKER_NAME = "sanity_marker"
_TOKEN_RE = re.compile(r"^neondoctor-sanity:(?P<ts>\d{10}):(?P<uuid>[0-9a-f]{32})$")


def new_token(now: float | None = None) -> str:
    return f"{MARKER_PREFIX}{int(now if now is not None else time.time()):010d}:{uuid.uuid4().hex}"


def is_stale_token(value: str, now: float | None = None) -> bool:
    """SQLite: a marker an interrupted run left behind: neondoctor's exact token shape, an hour old."""
    match = _TOKEN_RE.match(value or "")
    if not match:
        return False
    return int(match.group("ts")) < (now if now is not None else time.time()) - LEFTOVER_AGE


# Namespace of the per-run liveness locks (two-key advisory locks: this key, hashtext(token)).
_LIVENESS_CLASS = 0x6E64


class RunLiveness:
    """On PostgreSQL a run holds a session advisory lock named after its token while its markers
    exist. A marker whose lock is free belongs to a run that is gone (killed, or its server
    restarted), so the next run can remove it at once instead of waiting for it to age."""

    def __init__(self, target: Target) -> None:
        self._enabled = target.is_postgres
        self._conn: Connection | None = None
        self._token = ""

    def hold(self, engine: Engine, token: str) -> None:
        from sqlalchemy import text

        if not self._enabled or self._conn is not None:
            return
        self._token = token
        self._conn = engine.connect()
        self._conn.execute(text("SELECT pg_advisory_lock(:c, hashtext(:t))"), {"c": _LIVENESS_CLASS, "t": token})
        self._conn.commit()  # the session lock outlives the transaction

    def release(self) -> None:
        from sqlalchemy import text

        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:c, hashtext(:t))"),
                               {"c": _LIVENESS_CLASS, "t": self._token})
            self._conn.commit()
        except Exception:
            self._conn.invalidate()  # the server is gone: so is the lock
        finally:
            self._conn.close()
            self._conn = None


def run_is_gone(conn: Connection, token: str) -> bool:
    """PostgreSQL: nobody holds the token's liveness lock (try it, and let it go at once)."""
    from sqlalchemy import text

    got = conn.execute(text("SELECT pg_try_advisory_xact_lock(:c, hashtext(:t))"),
                       {"c": _LIVENESS_CLASS, "t": token}).scalar()
    return bool(got)


_MARKER_METADATA: dict[bool, MetaData] = {}


def marker_table(dialect: str = "postgresql") -> Table:
    """neondoctor's own marker table, used when the metadata is the user's (no user table is written).

    PostgreSQL: `neondoctor.sanity_marker`, in a schema of its own. SQLite has no schemas:
    `neondoctor_sanity_marker` in the main database.
    """
    from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, func

    own_schema = dialect == "postgresql"
    if own_schema not in _MARKER_METADATA:
        metadata = MetaData()
        Table(
            MARKER_NAME if own_schema else MARKER_TABLE, metadata,
            Column("id", Integer, primary_key=True),
            Column("token", String(100), nullable=False, unique=True),
            Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
            schema=OWN_SCHEMA if own_schema else None,
        )
        _MARKER_METADATA[own_schema] = metadata
    return next(iter(_MARKER_METADATA[own_schema].tables.values()))


def read_sql(mode: str, dialect: str) -> str:
    """The one query the restart child runs (bind :token): a description of the marker, or no row."""
    if mode == "marker":
        table = f"{OWN_SCHEMA}.{MARKER_NAME}" if dialect == "postgresql" else MARKER_TABLE
        return f"SELECT '{table} row ' || id FROM {table} WHERE token = :token"
    return ("SELECT 'categories row ' || c.id || ' + expenses row ' || e.id FROM categories c "
            "JOIN expenses e ON e.category_id = c.id WHERE c.name = :token AND e.description = :token "
            "AND e.amount = 0.01")


class MarkerStore:
    """Writes, reads and removes marker rows for one mode: `budget` (the tracker's tables) or `marker`."""

    def __init__(self, mode: str, dialect: str = "postgresql") -> None:
        if mode not in ("budget", "marker"):
            raise ValueError(mode)
        self.mode = mode
        self.dialect = dialect

    def create(self, conn: Connection, token: str) -> str:
        from sqlalchemy import insert

        if self.mode == "marker":
            table = marker_table(self.dialect)
            row_id = conn.execute(insert(table).values(token=token).returning(table.c.id)).scalar_one()
            return f"{table.fullname} row {row_id}"
        from neondoctor.app.budget.models import Category, Expense

        cat_id = conn.execute(insert(Category).values(name=token).returning(Category.id)).scalar_one()
        exp_id = conn.execute(insert(Expense).values(
            category_id=cat_id, amount=Decimal("0.01"), spent_on=dt.date.today(), description=token,
        ).returning(Expense.id)).scalar_one()
        return f"categories row {cat_id} + expenses row {exp_id}"

    def read(self, conn: Connection, token: str) -> str | None:
        """A description of the marker rows found for `token`, or None when they are not there."""
        from sqlalchemy import select

        if self.mode == "marker":
            table = marker_table(self.dialect)
            row = conn.execute(select(table.c.id, table.c.token).where(table.c.token == token)).first()
            return f"{table.fullname} row {row.id}" if row else None
        from neondoctor.app.budget.models import Category, Expense

        row = conn.execute(
            select(Category.id, Expense.id.label("expense_id"), Expense.amount)
            .join(Expense, Expense.category_id == Category.id)
            .where(Category.name == token, Expense.description == token)
        ).first()
        if row is None or Decimal(row.amount) != Decimal("0.01"):
            return None
        return f"categories row {row.id} + expenses row {row.expense_id}"

    def remove(self, conn: Connection, tokens: list[str]) -> int:
        """Delete the marker rows of `tokens` (only rows carrying one of those exact tokens)."""
        from sqlalchemy import delete, select

        if not tokens:
            return 0
        if self.mode == "marker":
            table = marker_table(self.dialect)
            return conn.execute(delete(table).where(table.c.token.in_(tokens))).rowcount or 0
        from neondoctor.app.budget.models import Category, Expense

        ids = list(conn.execute(select(Category.id).where(Category.name.in_(tokens))).scalars())
        if not ids:
            return 0
        removed = conn.execute(delete(Expense).where(Expense.category_id.in_(ids),
                                                     Expense.description.in_(tokens))).rowcount or 0
        return removed + (conn.execute(delete(Category).where(Category.id.in_(ids))).rowcount or 0)

    def stale_tokens(self, conn: Connection) -> list[str]:
        from sqlalchemy import select

        if self.mode == "marker":
            column = marker_table(self.dialect).c.token
        else:
            from neondoctor.app.budget.models import Category

            column = Category.name  # type: ignore[assignment]
        found = conn.execute(select(column).where(column.startswith(MARKER_PREFIX, autoescape=True))).scalars()
        if conn.dialect.name == "postgresql":
            # A marker is stale as soon as its run is gone; concurrent live runs keep theirs.
            return [t for t in found if _TOKEN_RE.match(t) and run_is_gone(conn, t)]
        return [t for t in found if is_stale_token(t)]

