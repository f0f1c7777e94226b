"""Schema drift: do the live tables hold what the models declare?

Compared: tables, columns, types, nullability, primary keys, indexes, unique constraints and foreign
keys the models declare. With Alembic installed its `compare_metadata` does the comparison (the same
code `alembic revision --autogenerate` trusts); without it, SQLAlchemy's inspector and a plainer
comparison. Primary keys are compared here in both cases (Alembic's autogenerate does not).
A difference the models declare is a failure ("table.column: model says X, database has Y"); what
exists only in the database (extra tables, columns, indexes) is reported, never failed.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Connection, MetaData, Table

# Tables a migration tool or neondoctor itself keeps next to the app's: never "extra".
IGNORED_TABLES = frozenset({"alembic_version", "neondoctor_sanity_marker"})


@dataclass
class Drift:
    differences: list[str] = field(default_factory=list)  # fail the step
    extras: list[str] = field(default_factory=list)  # reported only
    engine: str = "sqlalchemy"  # which comparison ran: "alembic" or "sqlalchemy"


def has_alembic() -> bool:
    return importlib.util.find_spec("alembic") is not None


def compare(conn: Connection, metadata: MetaData, *, use_alembic: bool | None = None) -> Drift:
    """All differences between `metadata` and the database `conn` is connected to (reads only)."""
    if use_alembic is None:
        use_alembic = has_alembic()
    drift = _compare_alembic(conn, metadata) if use_alembic else _compare_inspector(conn, metadata)
    _compare_primary_keys(conn, metadata, drift)
    drift.differences.sort()
    drift.extras.sort()
    return drift


def _name(schema: str | None, table: str) -> str:
    return f"{schema}.{table}" if schema else table


def _type(column_type: Any, dialect: Any) -> str:
    try:
        return str(column_type.compile(dialect=dialect))
    except Exception:  # a type the dialect cannot render: its repr still names it
        return repr(column_type)


def _null(nullable: bool | None) -> str:
    return "NULL" if nullable else "NOT NULL"


def _cols(obj: Any) -> str:
    return ", ".join(c.name if hasattr(c, "name") else str(c) for c in obj)


# -- Alembic ---------------------------------------------------------------------------------------

def _compare_alembic(conn: Connection, metadata: MetaData) -> Drift:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def include_name(name: str | None, type_: str, _parents: dict[str, Any]) -> bool:
        return not (type_ == "table" and name in IGNORED_TABLES)

    schemas = {t.schema for t in metadata.tables.values()} - {None}
    context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name,
                                                     "include_schemas": bool(schemas)})
    drift = Drift(engine="alembic")
    dialect = conn.dialect
    # A primary key column is NOT NULL whatever SQLite's reflection says (it reports them nullable).
    keys = {(t.schema, t.name, c.name) for t in metadata.tables.values() for c in t.primary_key.columns}
    diffs = [d for e in compare_metadata(context, metadata) for d in (e if isinstance(e, list) else [e])]
    # A missing table is one difference, not one more per index of it.
    missing = {d[1].fullname for d in diffs if d[0] == "add_table"}
    for diff in diffs:
        if diff[0] == "modify_nullable" and (diff[1], diff[2], diff[3]) in keys:
            continue
        if diff[0] in ("add_index", "add_constraint", "add_fk") and diff[1].table.fullname in missing:
            continue
        _alembic_diff(diff, drift, dialect, schemas)
    return drift


def _alembic_diff(diff: tuple[Any, ...], drift: Drift, dialect: Any, schemas: set[str]) -> None:
    kind = diff[0]
    if kind == "add_table":
        drift.differences.append(f"{diff[1].fullname}: the model declares this table, the database has no such table")
    elif kind == "remove_table":
        if not schemas or diff[1].schema in schemas:
            drift.extras.append(f"{diff[1].fullname}: table in the database, not in the models")
    elif kind in ("add_column", "remove_column"):
        _schema, table, column = diff[1], diff[2], diff[3]
        where = f"{_name(_schema, table)}.{column.name}"
        if kind == "add_column":
            drift.differences.append(f"{where}: model says {_type(column.type, dialect)} "
                                     f"{_null(column.nullable)}, database has no such column")
        else:
            drift.extras.append(f"{where}: column in the database ({_type(column.type, dialect)}), not in the model")
    elif kind == "modify_type":
        where = f"{_name(diff[1], diff[2])}.{diff[3]}"
        drift.differences.append(f"{where}: model says {_type(diff[6], dialect)}, "
                                 f"database has {_type(diff[5], dialect)}")
    elif kind == "modify_nullable":
        where = f"{_name(diff[1], diff[2])}.{diff[3]}"
        drift.differences.append(f"{where}: model says {_null(diff[6])}, database has {_null(diff[5])}")
    elif kind in ("add_index", "remove_index"):
        index = diff[1]
        what = f"{'unique ' if index.unique else ''}index {index.name} ({_cols(index.expressions)})"
        if kind == "add_index":
            drift.differences.append(f"{index.table.fullname}: model declares {what}, database has no such index")
        else:
            drift.extras.append(f"{index.table.fullname}: {what} in the database, not in the model")
    elif kind in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        cons = diff[1]
        label = "foreign key" if kind.endswith("_fk") else "unique constraint"
        what = f"{label} {cons.name or ''} ({_cols(cons.columns)})".replace("  ", " ")
        if kind.startswith("add"):
            drift.differences.append(f"{cons.table.fullname}: model declares {what}, database has no such constraint")
        else:
            drift.extras.append(f"{cons.table.fullname}: {what} in the database, not in the model")
    # modify_default / modify_comment: not compared (server defaults and comments are not declared checks)


# -- SQLAlchemy's inspector, without Alembic -------------------------------------------------------

def _compare_inspector(conn: Connection, metadata: MetaData) -> Drift:
    from sqlalchemy import UniqueConstraint, inspect

    inspector = inspect(conn)
    drift = Drift()
    dialect = conn.dialect
    for schema in {t.schema for t in metadata.tables.values()}:
        declared = {t.name for t in metadata.tables.values() if t.schema == schema}
        for name in sorted(set(inspector.get_table_names(schema=schema)) - declared - IGNORED_TABLES):
            drift.extras.append(f"{_name(schema, name)}: table in the database, not in the models")
    for table in metadata.sorted_tables:
        if not inspector.has_table(table.name, schema=table.schema):
            drift.differences.append(f"{table.fullname}: the model declares this table, "
                                     "the database has no such table")
            continue
        live = {c["name"]: c for c in inspector.get_columns(table.name, schema=table.schema)}
        for column in table.columns:
            where = f"{table.fullname}.{column.name}"
            got = live.pop(column.name, None)
            if got is None:
                drift.differences.append(f"{where}: model says {_type(column.type, dialect)} "
                                         f"{_null(column.nullable)}, database has no such column")
                continue
            want_t, have_t = _type(column.type, dialect), _type(got["type"], dialect)
            if want_t != have_t:
                drift.differences.append(f"{where}: model says {want_t}, database has {have_t}")
            if bool(column.nullable) != bool(got["nullable"]) and not column.primary_key:
                drift.differences.append(f"{where}: model says {_null(column.nullable)}, "
                                         f"database has {_null(got['nullable'])}")
        for name, got in live.items():
            drift.extras.append(f"{table.fullname}.{name}: column in the database "
                                f"({_type(got['type'], dialect)}), not in the model")
        _compare_indexes(inspector, table, drift, UniqueConstraint)
    return drift


def _compare_indexes(inspector: Any, table: Table, drift: Drift, unique_cls: type) -> None:
    live_idx = {(tuple(i["column_names"]), bool(i["unique"])): i["name"]
                for i in inspector.get_indexes(table.name, schema=table.schema)}
    live_uq = {tuple(u["column_names"]) for u in inspector.get_unique_constraints(table.name, schema=table.schema)}
    unique_sets = live_uq | {cols for cols, unique in live_idx if unique}
    for index in table.indexes:
        cols = tuple(c.name for c in index.columns)
        if (cols, bool(index.unique)) not in live_idx and not (index.unique and cols in unique_sets):
            kind = "unique index" if index.unique else "index"
            drift.differences.append(f"{table.fullname}: model declares {kind} {index.name} ({', '.join(cols)}), "
                                     "database has no such index")
    for cons in table.constraints:
        if isinstance(cons, unique_cls):
            cols = tuple(c.name for c in cons.columns)
            if cols not in unique_sets:
                drift.differences.append(f"{table.fullname}: model declares unique constraint ({', '.join(cols)}), "
                                         "database has no such constraint")
    declared = {tuple(c.name for c in i.columns) for i in table.indexes}
    for (cols, unique), name in live_idx.items():
        if cols not in declared and not unique:
            drift.extras.append(f"{table.fullname}: index {name} ({', '.join(cols)}) in the database, not in the model")


# -- primary keys (both paths) ---------------------------------------------------------------------

def _compare_primary_keys(conn: Connection, metadata: MetaData, drift: Drift) -> None:
    from sqlalchemy import inspect

    inspector = inspect(conn)
    missing = {d.split(":", 1)[0] for d in drift.differences if "has no such table" in d}
    for table in metadata.sorted_tables:
        if table.fullname in missing:
            continue
        want = [c.name for c in table.primary_key.columns]
        have = list(inspector.get_pk_constraint(table.name, schema=table.schema).get("constrained_columns") or [])
        if want != have:
            drift.differences.append(f"{table.fullname}: model says primary key ({', '.join(want) or 'none'}), "
                                     f"database has ({', '.join(have) or 'none'})")
