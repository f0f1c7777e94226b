"""The steps themselves: health, migrations, schema, tables (drift), round trip, and the cleanup."""

from __future__ import annotations

from typing import TYPE_CHECKING

from neondoctor.sanity import own
from neondoctor.sanity.drift import compare
from neondoctor.sanity.markers import MarkerStore
from neondoctor.sanity.report import StepFailed, StepResult, StepSkipped, error_text
from neondoctor.sanity.target import Target

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine, MetaData

# Serialises concurrent DDL on PostgreSQL (two CI jobs on a fresh database would otherwise
# race on CREATE TABLE). Arbitrary constant, "nd-sanity" in ASCII.
_ADVISORY_KEY = 0x6E642D73616E


def health(engine: Engine, result: StepResult) -> None:
    from sqlalchemy import text

    with engine.connect() as conn:
        value = conn.execute(text("SELECT 1")).scalar_one()
        if value != 1:
            raise StepFailed(f"SELECT 1 returned {value!r}")
        version = ".".join(str(v) for v in (conn.dialect.server_version_info or ())[:2])
    label = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}.get(engine.dialect.name, engine.dialect.name)
    result.detail = f"SELECT 1 through a pre-pinged pool ({label} {version})".replace(" )", ")")


def migrations(engine: Engine, alembic_path: str | None, result: StepResult) -> None:
    if not alembic_path:
        raise StepSkipped("no --alembic PATH given")
    from neondoctor.sanity.migrations import check_head, load_scripts

    scripts, version_table = load_scripts(alembic_path)
    with engine.connect() as conn:
        result.detail = check_head(conn, scripts, version_table)


def plan(engine: Engine, metadata: MetaData | None) -> list[str]:
    """What the schema step will create: the missing tables of `metadata` (the budget tracker's),
    or neondoctor's own schema and marker table when `metadata` is None."""
    from sqlalchemy import inspect

    with engine.connect() as conn:
        if metadata is None:
            table = own.marker_table(conn.dialect.name)
            out = []
            if table.schema and not inspect(conn).has_schema(table.schema):
                out.append(f"schema {table.schema}")
            if not own.marker_table_exists(conn):
                out.append(f"table {table.fullname}")
            return out
        inspector = inspect(conn)
        return [f"table {t.fullname}" for t in metadata.sorted_tables if not inspector.has_table(t.name, schema=t.schema)]


def advisory_lock(conn: Connection, target: Target) -> None:
    from sqlalchemy import text

    if target.is_postgres:
        # Transaction-scoped: released at commit/rollback; bounded by lock_timeout.
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})


def schema(engine: Engine, target: Target, metadata: MetaData | None, result: StepResult, created: list[str]) -> None:
    """Budget mode: create_all of the tracker's missing tables. User models: only neondoctor's own
    schema and marker table; the app's tables are its migrations' business, never created here."""
    from sqlalchemy import inspect

    with engine.begin() as conn:
        advisory_lock(conn, target)
        try:
            if metadata is None:
                made = own.ensure(conn)
            else:
                inspector = inspect(conn)
                made = [f"table {t.fullname}" for t in metadata.sorted_tables
                        if not inspector.has_table(t.name, schema=t.schema)]
                metadata.create_all(conn, checkfirst=True)
        except Exception as exc:
            if "permission denied" in str(exc):
                raise StepFailed(f"create failed: {error_text(exc)} (the role may not CREATE here: "
                                 "GRANT CREATE to it, or run with --no-create)") from None
            raise
    created.extend(made)
    what = "neondoctor's own schema" if metadata is None else "create_all"
    result.detail = (f"{what}: created {', '.join(made)}" if made
                     else f"{what}: everything already existed, nothing created")


def tables(engine: Engine, metadata: MetaData, result: StepResult) -> None:
    """The models against the live database (drift.py); extras are reported, differences fail."""
    with engine.connect() as conn:
        drift = compare(conn, metadata)
    result.differences, result.extras = drift.differences, drift.extras
    extra = f"; {len(drift.extras)} found only in the database (reported, not failed)" if drift.extras else ""
    if drift.differences:
        raise StepFailed(f"schema drift ({drift.engine}): {len(drift.differences)} differences: "
                         + "; ".join(drift.differences) + extra)
    result.detail = (f"{len(metadata.tables)} tables match the models ({drift.engine} comparison): "
                     f"{', '.join(sorted(metadata.tables))}{extra}")


def read_round_trip(engine: Engine, metadata: MetaData, result: StepResult, why: str) -> None:
    """A read in a new session: one row of each model table, the models' own columns."""
    from sqlalchemy import select

    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            conn.execute(select(*table.columns).limit(1)).all()
        read_only = conn.dialect.name == "postgresql" and conn.exec_driver_sql("SHOW transaction_read_only").scalar()
    mode = " in a READ ONLY transaction" if read_only == "on" else ""
    result.detail = f"read {len(metadata.tables)} tables through the models' columns{mode} ({why})"


def round_trip(engine: Engine, store: MarkerStore, token: str, result: StepResult) -> None:
    from sqlalchemy.orm import Session

    stale = remove_stale(engine, store)
    with Session(engine) as session, session.begin():
        written = store.create(session.connection(), token)
    # A new session on a new checkout: the row must come from the database, not the identity map.
    with Session(engine) as session:
        found = store.read(session.connection(), token)
    if found is None:
        raise StepFailed(f"marker {token} was written ({written}) but a new session did not find it")
    result.detail = f"wrote and read back {found} in a new session"
    if isinstance(stale, int) and stale:
        result.detail += f"; removed {stale} leftover marker rows of an interrupted run"
    elif isinstance(stale, str):
        result.detail += f"; leftover markers kept: {stale}"


def remove_stale(engine: Engine, store: MarkerStore) -> int | str:
    """Remove markers of interrupted runs, in a transaction of its own: a failure here (say, a user
    row referencing a marker) is reported, never a reason to fail the step."""
    from sqlalchemy.orm import Session

    try:
        with Session(engine) as session, session.begin():
            conn = session.connection()
            return store.remove(conn, store.stale_tokens(conn))
    except Exception as exc:
        return error_text(exc)


def cleanup(engine: Engine, store: MarkerStore, token: str) -> str:
    from sqlalchemy.orm import Session

    try:
        with Session(engine) as session, session.begin():
            removed = store.remove(session.connection(), [token])
        return f"removed {removed} marker rows"
    except Exception as exc:  # the server may be gone; a later run removes the leftovers
        return f"could not remove marker rows (a later run will): {error_text(exc)}"
