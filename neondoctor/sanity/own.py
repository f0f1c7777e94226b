"""neondoctor's own objects in the checked database: the schema `neondoctor` and its marker table.

Created on first use by a run that writes markers (never with --no-create or --read-only), removed
by `neondoctor sanity --drop-own-schema`. The liveness lock is a PostgreSQL advisory lock: it is no
object and disappears with the session that holds it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from neondoctor.sanity.markers import MARKER_NAME, MARKER_TABLE, OWN_SCHEMA, marker_table

if TYPE_CHECKING:
    from sqlalchemy import Connection


def marker_table_exists(conn: Connection) -> bool:
    from sqlalchemy import inspect

    table = marker_table(conn.dialect.name)
    return inspect(conn).has_table(table.name, schema=table.schema)


def ensure(conn: Connection) -> list[str]:
    """Create the schema and the marker table when missing; the objects this call created."""
    from sqlalchemy import inspect, text

    created: list[str] = []
    table = marker_table(conn.dialect.name)
    if table.schema and not inspect(conn).has_schema(table.schema):
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{table.schema}"'))
        created.append(f"schema {table.schema}")
    if not inspect(conn).has_table(table.name, schema=table.schema):
        table.create(conn, checkfirst=True)
        created.append(f"table {table.fullname}")
    return created


def drop(conn: Connection) -> list[str]:
    """Remove neondoctor's own objects; the ones removed. Refuses (RuntimeError) to drop a schema
    `neondoctor` that holds anything neondoctor did not put there."""
    from sqlalchemy import inspect, text

    inspector = inspect(conn)
    dropped: list[str] = []
    if conn.dialect.name == "postgresql" and inspector.has_schema(OWN_SCHEMA):
        others = sorted(set(inspector.get_table_names(schema=OWN_SCHEMA)) - {MARKER_NAME})
        others += inspector.get_view_names(schema=OWN_SCHEMA)
        if others:
            raise RuntimeError(f"schema {OWN_SCHEMA} also holds {', '.join(others)}, which neondoctor did not "
                               "create: left as it is")
        if inspector.has_table(MARKER_NAME, schema=OWN_SCHEMA):
            conn.execute(text(f'DROP TABLE "{OWN_SCHEMA}"."{MARKER_NAME}"'))
            dropped.append(f"table {OWN_SCHEMA}.{MARKER_NAME}")
        conn.execute(text(f'DROP SCHEMA "{OWN_SCHEMA}" RESTRICT'))  # fails if anything else is left
        dropped.append(f"schema {OWN_SCHEMA}")
    # SQLite's marker table, and the one older versions left in the app's schema on PostgreSQL.
    if inspector.has_table(MARKER_TABLE):
        conn.execute(text(f'DROP TABLE "{MARKER_TABLE}"'))
        dropped.append(f"table {MARKER_TABLE}")
    return dropped
