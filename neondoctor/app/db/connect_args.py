"""Connect timeout, TLS, application_name and pooler settings in each driver's own terms.

psycopg2 and psycopg 3 speak libpq: ``connect_timeout``/``sslmode``/``application_name`` pass as
they are. asyncpg is not libpq, and SQLAlchemy hands every URL query parameter to
``asyncpg.connect`` as a keyword, so a Neon URL with ``sslmode=require`` fails with a TypeError.
For asyncpg the query is translated (``sslmode`` -> ``ssl``, ``connect_timeout`` -> ``timeout``,
``application_name`` and ``options=-c k=v`` -> ``server_settings``) and libpq-only parameters are
refused with a message that says what to do instead.

Behind a transaction-mode pooler, server-side prepared statements break when the next
transaction lands on another server connection: asyncpg gets ``statement_cache_size=0`` and
SQLAlchemy's asyncpg dialect ``prepared_statement_cache_size=0``; psycopg 3 gets
``prepare_threshold=None``; psycopg2 never prepares on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from neondoctor.errors import ConfigError
from neondoctor.url import LIBPQ_PARAMS, ParsedUrl

LIBPQ_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# Query parameters asyncpg.connect (or SQLAlchemy's asyncpg dialect) accepts as they are.
ASYNCPG_NATIVE = {"ssl": str, "timeout": float, "command_timeout": float, "statement_cache_size": int,
                  "prepared_statement_cache_size": int, "max_cached_statement_lifetime": int,
                  "max_cacheable_statement_size": int, "direct_tls": bool, "target_session_attrs": str,
                  "passfile": str, "krbsrvname": str, "gsslib": str}
# What to say for libpq parameters asyncpg has no equivalent for.
ASYNCPG_ADVICE = {
    "channel_binding": "asyncpg has no channel_binding setting; remove it or use postgresql+psycopg://",
    "sslrootcert": 'pass connect_args={"ssl": ssl.create_default_context(cafile=...)}',
    "sslcert": 'pass connect_args={"ssl": an ssl.SSLContext with load_cert_chain(...)}',
    "sslkey": 'pass connect_args={"ssl": an ssl.SSLContext with load_cert_chain(...)}',
    "sslnegotiation": "use ?direct_tls=true for direct TLS",
    "keepalives": "asyncpg keeps the OS defaults; remove it",
}


@dataclass(frozen=True)
class DriverArgs:
    query: dict[str, str]  # what stays in the SQLAlchemy URL's query
    connect_args: dict[str, Any]  # create_engine(connect_args=...)
    connect_timeout: float
    prepared_statements: dict[str, Any] = field(default_factory=dict)  # the pooler-safe settings applied


def bounded_timeout(given: str | None, bound: int) -> int:
    """libpq: 0 or absent waits forever and the minimum is 2; the URL may only make it shorter."""
    limit = max(2, int(bound))
    text = (given or "").strip()
    try:
        value = float(text)
    except ValueError:
        return limit
    return max(2, int(value)) if 0 < value < limit else limit


def driver_connect_args(parsed: ParsedUrl, driver: str, *, connect_timeout: int, application_name: str,
                        pooled: bool, extra: dict[str, Any] | None = None) -> DriverArgs:
    """The one translation from a parsed URL to (URL query, connect_args) for `driver`."""
    extra = dict(extra or {})
    if driver == "asyncpg":
        return _asyncpg_args(parsed, connect_timeout, application_name, pooled, extra)
    query = dict(parsed.query)
    timeout = bounded_timeout(query.get("connect_timeout"), connect_timeout)
    args: dict[str, Any] = {"connect_timeout": timeout}
    args["application_name"] = extra.pop("application_name", None) or query.get("application_name") or application_name
    prepared: dict[str, Any] = {}
    if driver == "psycopg" and pooled and "prepare_threshold" not in extra:
        args["prepare_threshold"] = None
        prepared["prepare_threshold"] = None
    args.update(extra)
    return DriverArgs(query, args, timeout, prepared)


def _asyncpg_args(parsed: ParsedUrl, connect_timeout: int, application_name: str, pooled: bool,
                  extra: dict[str, Any]) -> DriverArgs:
    query = dict(parsed.query)
    refused = sorted(k for k in query if k not in ASYNCPG_NATIVE and k not in
                     ("sslmode", "connect_timeout", "application_name", "options"))
    if refused:
        unknown = [k for k in refused if k not in LIBPQ_PARAMS]
        advice = "; ".join(f"{k}: {ASYNCPG_ADVICE[k]}" for k in refused if k in ASYNCPG_ADVICE)
        what = "libpq-only parameter" if not unknown else "parameter"
        raise ConfigError(f"asyncpg does not understand the URL {what}(s) {', '.join(refused)}"
                          + (f" ({advice})" if advice else "")
                          + "; remove them, pass asyncpg keywords in connect_args, or use postgresql+psycopg://")
    args: dict[str, Any] = {}
    server_settings: dict[str, str] = dict(extra.pop("server_settings", {}) or {})
    sslmode = query.pop("sslmode", None)
    if sslmode is not None:
        if sslmode not in LIBPQ_SSLMODES:
            raise ConfigError(f"sslmode={sslmode!r} is not one of {', '.join(LIBPQ_SSLMODES)}")
        args["ssl"] = sslmode  # asyncpg takes the libpq mode names as `ssl`
    given_timeout = query.pop("connect_timeout", None) or query.pop("timeout", None)
    timeout = bounded_timeout(given_timeout, connect_timeout)
    args["timeout"] = float(timeout)
    name = query.pop("application_name", None) or application_name
    server_settings.setdefault("application_name", name)
    if "options" in query:
        server_settings.update(_options_to_settings(query.pop("options")))
    sa_query: dict[str, str] = {}
    for key, value in query.items():
        if key == "prepared_statement_cache_size":
            sa_query[key] = value  # SQLAlchemy's dialect reads it from the URL
        else:
            args[key] = _coerce(key, value)
    prepared: dict[str, Any] = {}
    if pooled:
        if "prepared_statement_cache_size" not in extra:
            sa_query["prepared_statement_cache_size"] = "0"
            prepared["prepared_statement_cache_size"] = 0
        if "statement_cache_size" not in extra:
            args["statement_cache_size"] = 0
            prepared["statement_cache_size"] = 0
    args["server_settings"] = server_settings
    args.update(extra)
    return DriverArgs(sa_query, args, float(timeout), prepared)


def _coerce(key: str, value: str) -> Any:
    kind = ASYNCPG_NATIVE[key]
    try:
        if kind is bool:
            return value.strip().lower() in ("1", "true", "yes", "on")
        return kind(value)
    except ValueError:
        raise ConfigError(f"URL parameter {key}={value!r} is not a valid {kind.__name__}") from None


def _options_to_settings(options: str) -> dict[str, str]:
    """libpq `options=-c key=value ...` -> asyncpg server_settings; anything else is refused."""
    settings: dict[str, str] = {}
    tokens = options.split()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "-c" and i + 1 < len(tokens):
            token, i = tokens[i + 1], i + 1
        elif token.startswith(("-c", "--")):
            token = token[2:]
        else:
            raise ConfigError(f"asyncpg cannot pass options={options!r} (only '-c key=value' settings translate; "
                              "Neon's endpoint= option needs a libpq driver or SNI)")
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise ConfigError(f"options={options!r}: expected -c key=value")
        settings[key.replace("-", "_")] = value
        i += 1
    return settings
