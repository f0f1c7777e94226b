"""The lab's SQL as its superuser: psycopg2 connections, roles and the app's database.

Names go through psycopg2.sql.Identifier and passwords through parameters, never into the text.
"""

from __future__ import annotations

import secrets
from typing import Any

from neondoctor.lab.state import APP_DATABASE, APP_USER
from neondoctor.redaction import register_secret


def connect(*, port: int, user: str, password: str, database: str, autocommit: bool = True, **kwargs: Any) -> Any:
    """A psycopg2 connection to the lab on 127.0.0.1 (bounded: connect_timeout 5 s)."""
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=port, user=user, password=password,
                            dbname=database, connect_timeout=5, **kwargs)
    conn.autocommit = autocommit
    return conn


def execute(conn: Any, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run one statement on `conn`, close it, return the rows (none for a statement without)."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def create_role(conn: Any, name: str, password: str | None = None, *, superuser: bool = False,
                grants: tuple[str, ...] = (), options: str = "") -> str:
    """Create a login role on `conn` (closed after); returns its password, registered for redaction."""
    from psycopg2 import sql

    password = password or secrets.token_urlsafe(12)
    register_secret(password)
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("CREATE ROLE {} LOGIN {} PASSWORD %s " + options).format(
                    sql.Identifier(name), sql.SQL("SUPERUSER" if superuser else "NOSUPERUSER")
                ),
                (password,),
            )
            for grant in grants:
                cur.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(grant), sql.Identifier(name)))
    finally:
        conn.close()
    return password


def create_app_database(conn: Any, app_password: str) -> None:
    """The app's role and the database it owns (on `conn`, closed after)."""
    from psycopg2 import sql

    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(APP_USER)),
                (app_password,),
            )
            cur.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(APP_DATABASE), sql.Identifier(APP_USER)
                )
            )
    finally:
        conn.close()
