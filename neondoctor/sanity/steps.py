"""The steps themselves: health, schema, tables, round trip, and the cleanup after them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from neondoctor.sanity.markers import MarkerStore, marker_table
from neondoctor.sanity.report import StepFailed, StepResult, error_text
from neondoctor.sanity.target import Target

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine, MetaData

# Serialises concurrent create_all on PostgreSQL (two CI jobs on a fresh database would otherwise
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


def advisory_lock(conn: Connection, target: Target) -> None:
    from sqlalchemy import text

    if target.is_postgres:
        # Transaction-scoped: released at commit/rollback; bounded by lock_timeout.
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})


def schema(engine: Engine, target: Target, metadata: MetaData, result: StepResult) -> None:
    from sqlalchemy import inspect

    with engine.begin() as conn:
        advisory_lock(conn, target)
        existing = {t.name for t in metadata.sorted_tables if inspect(conn).has_table(t.name, schema=t.schema)}
        try:
            metadata.create_all(conn, checkfirst=True)
        except Exception as exc:
            if "permission denied" in str(exc):
                raise StepFailed(f"create_all failed: {error_text(exc)} (the role may not CREATE tables here: "
                                 "GRANT CREATE ON SCHEMA to it, or run migrations as the schema owner)") from None
            raise
    made = [t.name for t in metadata.sorted_tables if t.name not in existing]
    result.detail = (f"create_all: created {', '.join(made)}" if made
                     else f"create_all: all {len(metadata.tables)} tables already existed")


def tables(engine: Engine, metadata: MetaData, result: StepResult) -> None:
    from sqlalchemy import inspect

    with engine.connect() as conn:
        inspector = inspect(conn)
        missing = [t.fullname for t in metadata.sorted_tables if not inspector.has_table(t.name, schema=t.schema)]
    if missing:
        raise StepFailed(f"tables missing after create_all: {', '.join(missing)}")
    result.detail = f"{len(metadata.tables)} tables present: {', '.join(sorted(metadata.tables))}"


def round_trip(engine: Engine, target: Target, store: MarkerStore, token: str, result: StepResult) -> None:
    from sqlalchemy.orm import Session

    if store.mode == "marker":
        with engine.begin() as conn:
            advisory_lock(conn, target)
            marker_table().create(conn, checkfirst=True)
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

