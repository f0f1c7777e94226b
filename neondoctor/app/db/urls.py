"""Which driver an engine uses, and whether its host is a transaction-mode pooler.

A bare ``postgresql://`` follows the SQLAlchemy installed here, as a plain
``sqlalchemy.create_engine`` would: 2.0 picks psycopg2, 2.1 picks psycopg 3. When that driver is
not installed the factory falls back to the other one and logs why. ``postgres://`` (rejected by
SQLAlchemy) is rewritten with a logged warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from neondoctor.app.db.logs import emit
from neondoctor.errors import ConfigError
from neondoctor.url import ParsedUrl, parse_url

SYNC_DRIVERS = ("psycopg2", "psycopg")
ASYNC_DRIVERS = ("psycopg", "asyncpg")
INSTALL_HINTS = {
    "psycopg2": "pip install psycopg2-binary",
    "psycopg": "pip install 'neondoctor[psycopg]' (psycopg[binary,pool])",
    "asyncpg": "pip install 'neondoctor[asyncpg]'",
}
PGBOUNCER_PORT = 6432


@dataclass(frozen=True)
class DriverChoice:
    parsed: ParsedUrl
    driver: str
    reason: str  # why this driver: named in the URL, or SQLAlchemy's default


def sqlalchemy_default_driver() -> str:
    """The driver SQLAlchemy itself picks for a bare postgresql:// (psycopg 3 from 2.1 on)."""
    import sqlalchemy

    major, minor = (int(p) for p in sqlalchemy.__version__.split(".")[:2])
    return "psycopg" if (major, minor) >= (2, 1) else "psycopg2"


def _installed(driver: str) -> bool:
    from neondoctor.audit.url_audit import driver_installed

    return driver_installed(driver)


def choose_driver(raw: str, *, use_async: bool) -> DriverChoice:
    """Parse the URL and settle its driver for a sync or an async engine; ConfigError otherwise."""
    parsed = parse_url(raw)
    kind = "async" if use_async else "sync"
    allowed = ASYNC_DRIVERS if use_async else SYNC_DRIVERS
    driver = parsed.driver
    if driver == "psycopg_async":
        driver = "psycopg"
    if parsed.dialect == "postgres":
        emit(logging.WARNING, "db.url.normalized", reason="postgres:// is rejected by SQLAlchemy (NoSuchModuleError)",
             was="postgres://", now=f"postgresql+{driver or '<driver>'}://")
    if driver is None:
        default = sqlalchemy_default_driver()
        if use_async:
            candidates = ["psycopg", "asyncpg"]
            why = "no +driver in the URL; psycopg 3 serves asyncio with the same libpq settings"
        else:
            candidates = [default, "psycopg2" if default == "psycopg" else "psycopg"]
            why = f"no +driver in the URL; SQLAlchemy {_sa_version()} picks {default}"
        for candidate in candidates:
            if _installed(candidate):
                reason = why if candidate == candidates[0] else f"{why}, which is not installed: using {candidate}"
                emit(logging.INFO, "db.url.driver", driver=candidate, engine=kind, reason=reason)
                return DriverChoice(parsed, candidate, reason)
        raise ConfigError(f"no {kind} PostgreSQL driver installed: {INSTALL_HINTS[candidates[0]]}")
    if driver not in allowed:
        if driver == "asyncpg":
            raise ConfigError("+asyncpg is an asyncio driver: use neondoctor.db.create_async_engine")
        if driver == "psycopg2":
            raise ConfigError("psycopg2 has no asyncio support: use postgresql+psycopg:// or postgresql+asyncpg:// "
                              "with create_async_engine")
        raise ConfigError(f"neondoctor.db builds {kind} engines for {' or '.join(allowed)}; the URL names +{driver}")
    if not _installed(driver):
        raise ConfigError(f"driver {driver} is not installed: {INSTALL_HINTS[driver]}")
    return DriverChoice(parsed, driver, "named in the URL")


def _sa_version() -> str:
    import sqlalchemy

    return sqlalchemy.__version__


def is_pooled_host(parsed: ParsedUrl) -> bool:
    """A transaction-mode pooler: Neon's `-pooler` host, or PgBouncer's customary port 6432."""
    host = (parsed.host or "").lower()
    return "-pooler." in host or parsed.port == PGBOUNCER_PORT


def normalize_url(raw: str) -> tuple[ParsedUrl, str]:
    """(parsed URL, driver) for a sync engine; kept for callers of the earlier single-module API."""
    choice = choose_driver(raw, use_async=False)
    return choice.parsed, choice.driver
