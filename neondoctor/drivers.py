"""What neondoctor knows about PostgreSQL drivers, in one place.

Module and pip package per SQLAlchemy driver name, which drivers are async, which one a bare
`postgresql://` gets per SQLAlchemy version, the connect parameters each driver takes (libpq's for
psycopg2 and psycopg 3, asyncpg's own for asyncpg) and the libpq a driver links. The URL audit, the
probes, `latency`, `sanity` and neondoctor's own connection (`neondoctor.connect`) all read it here.

Nothing here imports a driver at module import time.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from neondoctor.errors import ConfigError
from neondoctor.url import LIBPQ_PARAMS, ParsedUrl, libpq_kwargs


@dataclass(frozen=True)
class Driver:
    name: str  # as written after `postgresql+`
    module: str  # what SQLAlchemy imports
    package: str  # what to `pip install`
    is_async: bool
    family: str  # "psycopg2" | "psycopg" | "asyncpg" | "other": how neondoctor speaks it
    label: str  # for people

    @property
    def libpq(self) -> bool:
        return self.family in ("psycopg2", "psycopg")


DRIVERS: dict[str, Driver] = {d.name: d for d in (
    Driver("psycopg2", "psycopg2", "psycopg2-binary", False, "psycopg2", "psycopg2"),
    Driver("psycopg2cffi", "psycopg2cffi", "psycopg2cffi", False, "other", "psycopg2cffi"),
    Driver("psycopg", "psycopg", "psycopg[binary]", False, "psycopg", "psycopg 3"),
    Driver("psycopg_async", "psycopg", "psycopg[binary]", True, "psycopg", "psycopg 3 (async)"),
    Driver("asyncpg", "asyncpg", "asyncpg", True, "asyncpg", "asyncpg"),
    Driver("pg8000", "pg8000", "pg8000", False, "other", "pg8000"),
)}
# The drivers neondoctor itself can connect with (one per family).
SPOKEN = ("psycopg2", "psycopg", "asyncpg")
# What a URL without +driver gets: SQLAlchemy 2.1 switched the default to psycopg 3
# (docs.sqlalchemy.org/en/21/changelog/migration_21.html); 2.0 and older use psycopg2.
DEFAULT_BY_SQLALCHEMY: tuple[tuple[tuple[int, int], str], ...] = (((2, 1), "psycopg"), ((0, 0), "psycopg2"))
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")

# Query parameters SQLAlchemy's asyncpg dialect accepts: two of its own, the rest go to
# asyncpg.connect() as keyword arguments, so anything else is a TypeError there.
ASYNCPG_DIALECT_PARAMS = frozenset(["prepared_statement_cache_size", "prepared_statement_name_func"])
ASYNCPG_URL_PARAMS = frozenset(["host", "port", "ssl", "timeout", "command_timeout", "statement_cache_size",
                                "server_settings", "direct_tls", "target_session_attrs", "passfile"]
                               ) | ASYNCPG_DIALECT_PARAMS
# libpq spellings neondoctor translates for asyncpg; the other libpq parameters have no equivalent.
ASYNCPG_TRANSLATED = {"sslmode": "ssl", "connect_timeout": "timeout", "application_name": "server_settings"}

# Keepalives and tcp_user_timeout: a peer that vanishes under an open connection is noticed.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 2}


def get(name: str) -> Driver | None:
    return DRIVERS.get(name)


def sqlalchemy_version() -> str | None:
    """The SQLAlchemy installed here (read from the metadata, without importing it)."""
    from importlib import metadata

    try:
        return metadata.version("sqlalchemy")
    except metadata.PackageNotFoundError:
        return None


def default_driver(version: str | None) -> str:
    """The driver a bare postgresql:// gets under SQLAlchemy `version` (psycopg2 when unknown)."""
    try:
        parts = tuple(int(p) for p in (version or "").split(".")[:2])
    except ValueError:
        parts = ()
    if len(parts) < 2:
        return "psycopg2"
    return next(driver for floor, driver in DEFAULT_BY_SQLALCHEMY if parts >= floor)


@dataclass(frozen=True)
class Choice:
    """The driver the app uses for a URL, and why."""

    name: str
    reason: str
    named: bool  # True when the URL says +driver

    @property
    def driver(self) -> Driver | None:
        return DRIVERS.get(self.name)


def choose(parsed: ParsedUrl, sa_version: str | None = None, *, where: str = "neondoctor's environment") -> Choice:
    """The URL's +driver, or SQLAlchemy's default for the SQLAlchemy version given (or installed here)."""
    if parsed.driver:
        return Choice(parsed.driver, f"+{parsed.driver} in the URL", True)
    version = sa_version if sa_version is not None else sqlalchemy_version()
    name = default_driver(version)
    if not version:
        return Choice(name, f"no +driver in the URL and no SQLAlchemy in {where}: assuming 2.0's default, psycopg2",
                      False)
    return Choice(name, f"no +driver in the URL: SQLAlchemy {version} ({where}) picks {DRIVERS[name].label}", False)


def installed(name: str) -> bool:
    """The driver's module can be found here (find_spec: nothing is imported)."""
    module = DRIVERS[name].module if name in DRIVERS else name
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def speaking(choice: Choice) -> tuple[Driver, str | None]:
    """The driver neondoctor connects with for `choice`, and a note when it is not the app's own.

    A bare URL whose default driver is missing here is spoken with psycopg2 (same libpq protocol);
    a driver the URL names explicitly is spoken as is (ConfigError when it is not importable).
    """
    driver = choice.driver
    if driver is None or driver.family == "other":
        raise ConfigError(f"neondoctor connects with {', '.join(SPOKEN)}; the URL's driver is {choice.name}")
    spoken = DRIVERS[driver.family]  # the sync psycopg 3 speaks for psycopg_async too
    if installed(spoken.name):
        return spoken, None
    if not choice.named and installed("psycopg2"):
        return DRIVERS["psycopg2"], (f"{driver.label} is not installed in neondoctor's environment: "
                                     "neondoctor connects with psycopg2 (same libpq) instead")
    raise ConfigError(f"driver {choice.name} is not installed in neondoctor's environment: "
                      f"install neondoctor[{driver.family}] (pip install {driver.package})")


def libpq_version(family: str = "psycopg2") -> int | None:
    """libpq linked by psycopg2 or psycopg 3 here (e.g. 170011), None when not installed."""
    if family not in ("psycopg2", "psycopg") or not installed(family):
        return None
    try:
        if family == "psycopg2":
            import psycopg2.extensions

            return int(psycopg2.extensions.libpq_version()) or None
        import psycopg

        return int(psycopg.pq.version()) or None
    except Exception:  # a broken install: unknown, not a crash
        return None


def libpq_text(version: int) -> str:
    if version >= 100000:  # 10+: major * 10000 + minor
        return f"{version // 10000}.{version % 10000}"
    return f"{version // 10000}.{version // 100 % 100}.{version % 100}"


def asyncpg_rejected(query: dict[str, str]) -> list[str]:
    """URL query parameters SQLAlchemy's asyncpg dialect would hand to asyncpg.connect() and fail on."""
    return [k for k in query if k not in ASYNCPG_URL_PARAMS]


def bounded_seconds(given: str | None, ceiling: float) -> int:
    """A connect timeout the URL may shorten but never lengthen or disable (libpq's minimum is 2)."""
    bound = max(2, int(ceiling))
    text = (given or "").strip()
    if text.isdigit() and 0 < int(text) < bound:
        return max(2, int(text))
    return bound


def engine_connect_args(family: str, query: dict[str, str], *, timeout: float,
                        application_name: str) -> dict[str, Any]:
    """`connect_args` for a SQLAlchemy engine of the family: the bounds neondoctor adds, in the driver's
    own terms (the URL's own query parameters still reach the driver: the app's truth is kept)."""
    if family in ("psycopg2", "psycopg"):
        args: dict[str, Any] = {"connect_timeout": bounded_seconds(query.get("connect_timeout"), timeout),
                                "application_name": application_name, **KEEPALIVES,
                                "tcp_user_timeout": int(timeout * 1000)}
        for key in KEEPALIVES.keys() | {"tcp_user_timeout"}:
            if key in query:
                args.pop(key)
        return args
    if family == "asyncpg":
        return {"timeout": bounded_seconds(query.get("timeout"), timeout),
                "server_settings": {"application_name": application_name}}
    return {}


def connect_params(parsed: ParsedUrl, family: str, *, timeout: float, application_name: str) -> dict[str, Any]:
    """Keyword arguments for the family's connect(), bounded in time, in the driver's own terms.

    libpq (psycopg2, psycopg 3): connect_timeout, keepalives and tcp_user_timeout. asyncpg: `timeout`,
    `ssl` translated from `sslmode`, application_name as a server setting; a libpq-only parameter
    (channel_binding, options, ...) is refused with a ConfigError naming it.
    """
    if family in ("psycopg2", "psycopg"):
        kwargs: dict[str, Any] = dict(libpq_kwargs(parsed))
        kwargs["connect_timeout"] = bounded_seconds(str(kwargs.get("connect_timeout", "")), timeout)
        kwargs["application_name"] = application_name
        for key, value in KEEPALIVES.items():
            kwargs.setdefault(key, value)
        kwargs.setdefault("tcp_user_timeout", int(timeout * 1000))
        return kwargs
    if family != "asyncpg":
        raise ConfigError(f"neondoctor connects with {', '.join(SPOKEN)}, not {family}")
    query = dict(parsed.query)
    refused = [k for k in query if k not in ASYNCPG_URL_PARAMS and k not in ASYNCPG_TRANSLATED]
    if refused:
        libpq_only = [k for k in refused if k in LIBPQ_PARAMS]
        raise ConfigError(
            f"asyncpg does not take {', '.join(refused)} "
            + ("(libpq-only parameters)" if libpq_only == refused else "(unknown to asyncpg)")
            + ": remove them from a +asyncpg URL; use ssl=require for TLS and connect_args={'timeout': 10}")
    kwargs = {"host": parsed.host, "port": parsed.port, "user": parsed.username, "password": parsed.password,
              "database": parsed.database}
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    ssl = query.get("ssl", query.get("sslmode"))
    if ssl is not None:
        ssl = {"true": "require", "1": "require", "false": "disable", "0": "disable"}.get(ssl.lower(), ssl.lower())
        if ssl not in SSLMODES:
            raise ConfigError(f"ssl={ssl!r} is not one of {', '.join(SSLMODES)}")
        kwargs["ssl"] = ssl
    kwargs["timeout"] = bounded_seconds(query.get("timeout", query.get("connect_timeout")), timeout)
    kwargs["command_timeout"] = timeout
    kwargs["server_settings"] = {"application_name": application_name}
    kwargs["statement_cache_size"] = 0  # one-off statements; also safe behind a transaction-mode pooler
    return kwargs
