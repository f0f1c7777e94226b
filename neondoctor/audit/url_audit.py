"""The connection-string audit: what each part of a DATABASE_URL controls, and what is wrong with it.

Pure inspection: no connection is made. Drivers are judged in the app's environment
(`neondoctor.appenv`: --python, VIRTUAL_ENV, ./.venv, or neondoctor's own interpreter); driver
facts come from `neondoctor.drivers`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from neondoctor import drivers
from neondoctor.appenv import AppEnv, own_env
from neondoctor.audit import password_strength
from neondoctor.drivers import libpq_text as _libpq_text
from neondoctor.errors import EXIT_FINDINGS, EXIT_OK
from neondoctor.findings import Finding, sort_findings
from neondoctor.redaction import MASK
from neondoctor.url import LIBPQ_PARAMS, ParsedUrl

WEAK_SSLMODES = ("disable", "allow", "prefer")
_UNENCODED = re.compile(r"[@/:#?\s\[\]]|%(?![0-9A-Fa-f]{2})")

PART_HELP = {
    "dialect": "which SQLAlchemy dialect handles the URL (must be postgresql)",
    "driver": "which DBAPI module SQLAlchemy imports to connect",
    "username": "the role to log in as",
    "password": "the role's password (percent-encode @ / : # ? % and spaces)",
    "host": "the server's name or address; on Neon, a -pooler host goes through PgBouncer",
    "port": "the TCP port (5432 when absent)",
    "database": "the database to connect to (the role's name when absent)",
}
QUERY_HELP = {
    "sslmode": "libpq TLS policy: disable|allow|prefer|require|verify-ca|verify-full (default prefer)",
    "ssl": "asyncpg TLS policy (its equivalent of sslmode)",
    "channel_binding": "SCRAM channel binding to the TLS session (libpq 13+): disable|prefer|require",
    "connect_timeout": "seconds libpq waits for a connection (0 or absent: forever, per host)",
    "timeout": "seconds asyncpg waits for a connection",
    "options": "server settings sent at startup (-c name=value); a transaction-mode pooler accepts only the ones it tracks",
    "application_name": "the name shown in pg_stat_activity",
    "sslrootcert": "CA file that verify-ca/verify-full check the server certificate against",
    "sslnegotiation": "direct: TLS without the PostgreSQL SSLRequest round trip (libpq 17+)",
    "target_session_attrs": "which of several hosts to accept (read-write, primary, ...)",
    "keepalives_idle": "seconds of idleness before TCP keepalives start",
    "tcp_user_timeout": "milliseconds unacknowledged data may wait before the connection is dropped",
}


@dataclass(frozen=True)
class Part:
    name: str
    value: str | None
    controls: str


@dataclass
class UrlAudit:
    url: ParsedUrl
    effective_driver: str | None  # the driver SQLAlchemy would load
    parts: list[Part] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    driver_reason: str = ""  # why that driver (named in the URL, or SQLAlchemy's default)
    env: AppEnv | None = None  # the environment the driver was checked in

    @property
    def exit_code(self) -> int:
        """1 on any warning or critical finding; info alone is fine."""
        return EXIT_FINDINGS if any(f.severity in ("warn", "critical") for f in self.findings) else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        u = self.url
        return {
            "url": u.masked(),
            "dialect": u.dialect,
            "driver": u.driver,
            "effective_driver": self.effective_driver,
            "driver_reason": self.driver_reason,
            "environment": self.env.to_json() if self.env else None,
            "username": u.username,
            "password": MASK if u.password is not None else None,
            "host": u.host,
            "port": u.port,
            "database": u.database,
            "query": u.shown_query(),
            "parts": [{"name": p.name, "value": p.value, "controls": p.controls} for p in self.parts],
            "findings": [{"id": f.id, "severity": f.severity, "message": f.message} for f in self.findings],
        }


def driver_installed(driver: str) -> bool:
    """The driver's module is importable in neondoctor's own environment."""
    return drivers.installed(driver)


def audit_url(url: ParsedUrl, *, libpq_version: int | None = None,
              default_driver: tuple[str, str | None] | None = None, env: AppEnv | None = None) -> UrlAudit:
    """Audit a parsed URL against the app's environment `env` (default: neondoctor's own).
    `libpq_version`/`default_driver` (driver, SQLAlchemy version) override what `env` says."""
    env = env or own_env()
    where = "neondoctor's environment" if env.own else f"the app's environment, {env.python}"
    if default_driver is not None:
        choice = drivers.Choice(url.driver or default_driver[0],
                                f"+{url.driver} in the URL" if url.driver else
                                f"no +driver in the URL: SQLAlchemy {default_driver[1]} picks {default_driver[0]}",
                                bool(url.driver))
        sa_version = default_driver[1]
    else:
        # neondoctor's own SQLAlchemy is read here; another interpreter's comes from its probe ("" = none).
        choice = drivers.choose(url, None if env.own else (env.sqlalchemy_version or ""), where=where)
        sa_version = env.sqlalchemy_version if not env.own else drivers.sqlalchemy_version()
    driver = choice.name
    audit = UrlAudit(url=url, effective_driver=driver, parts=_parts(url, driver), driver_reason=choice.reason,
                     env=env)
    if libpq_version is None:
        libpq_version = env.libpq_for(driver)
    checks = (_scheme, _driver, _password, password_strength.check, _tls, _verify, _channel_binding, _neon, _pooler,
              _asyncpg, _timeout, _hosts)
    found: list[Finding] = []
    for check in checks:
        found.extend(check(url, driver, sa_version, libpq_version, env))
    audit.findings = sort_findings(found)
    return audit


def _parts(url: ParsedUrl, driver: str) -> list[Part]:
    parts = [
        Part("dialect", url.dialect, PART_HELP["dialect"]),
        Part("driver", url.driver or f"(none: SQLAlchemy picks {driver})", PART_HELP["driver"]),
        Part("username", url.username, PART_HELP["username"]),
        Part("password", MASK if url.password is not None else None, PART_HELP["password"]),
        Part("host", url.host or "(none: Unix socket)", PART_HELP["host"]),
        Part("port", str(url.port) if url.port else None, PART_HELP["port"]),
        Part("database", url.database, PART_HELP["database"]),
    ]
    for key, value in url.query.items():
        shown = MASK if "password" in key.lower() else value
        help_text = QUERY_HELP.get(key) or ("libpq parameter" if key in LIBPQ_PARAMS else "passed to the driver")
        parts.append(Part(f"?{key}", shown, help_text))
    return parts


def _links_libpq(driver: str) -> bool:
    known = drivers.get(driver)
    return driver == "psycopg2cffi" or bool(known and known.libpq)


def _scheme(url: ParsedUrl, *_: Any) -> list[Finding]:
    if url.dialect == "postgres":
        return [Finding("url.postgres-scheme", "critical",
                        "scheme postgres:// is rejected by SQLAlchemy 1.4+ (NoSuchModuleError: Can't load plugin: "
                        "sqlalchemy.dialects:postgres); write postgresql+psycopg2:// (Heroku-style URLs need rewriting)")]
    return []


def _driver(url: ParsedUrl, driver: str, sa_version: str | None, _libpq: int | None, env: AppEnv) -> list[Finding]:
    out: list[Finding] = []
    installed = env.has_driver(driver)
    where = "this environment" if env.own else f"the app's environment ({env.describe()})"
    known = drivers.get(driver)
    if url.driver is None and url.dialect == "postgresql":
        version = f"SQLAlchemy {sa_version}" if sa_version else "SQLAlchemy (not installed there)"
        msg = (f"no +driver in the URL: {version} in {where} picks {driver} "
               f"({'installed' if installed else 'NOT installed'}); SQLAlchemy 2.0 picks psycopg2 but 2.1 picks "
               "psycopg 3, so an upgrade silently changes the driver: name it, e.g. postgresql+psycopg2://")
        out.append(Finding("url.no-driver", "info" if installed else "critical", msg))
    elif not installed:
        module = known.module if known else driver
        package = f" (pip install {known.package})" if known else ""
        out.append(Finding("url.driver-missing", "critical",
                           f"driver {driver} (module {module}) is not installed in {where}: "
                           f"the app fails with ModuleNotFoundError: No module named '{module}'{package}"))
    if installed and known and known.is_async and not env.modules.get("greenlet", True):
        out.append(Finding("url.greenlet-missing", "critical",
                           f"{driver} is async: SQLAlchemy's asyncio extension needs greenlet, missing in {where} "
                           "(pip install 'sqlalchemy[asyncio]')"))
    return out


def _password(url: ParsedUrl, *_: Any) -> list[Finding]:
    raw = url.password_raw
    if not raw:
        return []
    chars = sorted({m.group(0) for m in _UNENCODED.finditer(raw)})
    if not chars:
        return []
    shown = " ".join("space" if c.isspace() else c for c in chars)
    return [Finding("url.password-unencoded", "warn",
                    f"the password holds characters that are not percent-encoded ({shown}): they break URL "
                    "parsing or decode to something else; encode it with urllib.parse.quote(password, safe='')")]


def _sslmode(url: ParsedUrl, driver: str) -> str | None:
    if driver == "asyncpg":
        return url.query.get("ssl") or url.query.get("sslmode")
    return url.query.get("sslmode")


def _tls(url: ParsedUrl, driver: str, *_: Any) -> list[Finding]:
    if url.is_local:
        return []
    mode = _sslmode(url, driver)
    key = "ssl" if driver == "asyncpg" else "sslmode"
    if url.is_neon and mode == "disable":
        return [Finding("url.neon-no-tls", "critical",
                        f"{key}=disable on a Neon host: Neon rejects every connection without TLS; use {key}=require")]
    if mode is None:
        return [Finding("url.sslmode-missing", "warn",
                        f"no {key} for a remote host: the default (prefer) falls back to plaintext silently and "
                        f"never verifies the server; set {key}=require (or verify-full with sslrootcert)")]
    if mode in WEAK_SSLMODES:
        severity = "critical" if url.is_neon and mode == "allow" else "warn"
        return [Finding("url.sslmode-weak", severity,
                        f"{key}={mode} for a remote host may connect without TLS; use {key}=require or verify-full")]
    return []


def _verify(url: ParsedUrl, driver: str, *_: Any) -> list[Finding]:
    mode = url.query.get("sslmode")
    if driver == "asyncpg" or mode not in ("verify-ca", "verify-full") or "sslrootcert" in url.query:
        return []
    return [Finding("url.sslrootcert-missing", "info",
                    f"sslmode={mode} without sslrootcert reads ~/.postgresql/root.crt and fails when it is absent; "
                    "for a public CA (Neon) use sslrootcert=system (libpq 16+)")]


def _hosts(url: ParsedUrl, *_: Any) -> list[Finding]:
    from neondoctor.url import _SCHEME, _split_authority

    match = _SCHEME.match(url.raw)
    authority = _split_authority(url.raw[match.end():])[0] if match else ""
    hostport = authority.rpartition("@")[2]
    if "," not in hostport:
        return []
    return [Finding("url.multiple-hosts", "info",
                    f"{hostport.count(',') + 1} hosts: libpq tries them in order (target_session_attrs picks one); "
                    f"neondoctor's own probes use the first, {url.host}")]


def _channel_binding(url: ParsedUrl, driver: str, _sa: str | None, libpq: int | None, *_: Any) -> list[Finding]:
    cb = url.query.get("channel_binding")
    if cb != "require" or driver == "asyncpg":  # asyncpg's own finding covers it
        return []
    out: list[Finding] = []
    if url.query.get("sslmode") == "disable" or (url.is_local and "sslmode" not in url.query):
        out.append(Finding("url.channel-binding-no-tls", "critical" if url.query.get("sslmode") == "disable" else "warn",
                           "channel_binding=require needs TLS: without it libpq fails with "
                           "'channel binding required, but SSL not in use'"))
    if _links_libpq(driver) and libpq is not None and libpq < 130000:
        out.append(Finding("url.channel-binding-old-libpq", "critical",
                           f"channel_binding needs libpq 13+, {driver} links libpq {_libpq_text(libpq)}: "
                           f"upgrade {driver} or drop channel_binding"))
    return out


def _neon(url: ParsedUrl, driver: str, _sa: str | None, libpq: int | None, *_: Any) -> list[Finding]:
    if not url.is_neon:
        return []
    out: list[Finding] = []
    options = url.query.get("options", "")
    if not url.is_neon_pooler:
        out.append(Finding("url.neon-direct", "info",
                           "direct Neon endpoint: every connection is a server backend counted against "
                           "max_connections; for many app processes use the -pooler host, keep direct for migrations"))
    if _links_libpq(driver) and libpq is not None and libpq < 140000 and "endpoint" not in options:
        out.append(Finding("url.neon-sni", "critical",
                           f"{driver} links libpq {_libpq_text(libpq)}, which sends no SNI: Neon answers "
                           "'The endpoint ID is not specified'; upgrade to libpq 14+ or add options=endpoint%3D<ep-id>"))
    return out


def _pooler(url: ParsedUrl, driver: str, *_: Any) -> list[Finding]:
    from neondoctor import pooler

    seen = pooler.guess(url)
    if not seen.pooled:
        return []
    out = [Finding("url.pooler", "info",
                   f"pooled endpoint ({seen.reason}; transaction mode): "
                   f"{', '.join(pooler.SESSION_FEATURES)} do not survive across transactions; "
                   "run migrations and pg_dump over the direct host")]
    if bad := pooler.untracked_startup_parameters(url):
        out.append(Finding("url.pooler-startup-parameter", "critical",
                           f"options={', '.join(bad)}: a transaction-mode pooler refuses startup parameters it does "
                           "not track ('unsupported startup parameter in options'); set them per role "
                           "(ALTER ROLE ... SET) or per transaction (SET LOCAL), or use the direct host"))
    if driver == "asyncpg" and url.query.get("prepared_statement_cache_size") != "0":
        out.append(Finding("url.pooler-asyncpg-statement-cache", "warn",
                           "asyncpg caches named prepared statements; through a transaction-mode pooler without "
                           "prepared-statement support they fail ('prepared statement \"__asyncpg_stmt_1__\" "
                           "does not exist'): add prepared_statement_cache_size=0 to the URL (or "
                           "connect_args={'statement_cache_size': 0} with plain asyncpg) unless the code does"))
    return out


def _asyncpg(url: ParsedUrl, driver: str, *_: Any) -> list[Finding]:
    if driver != "asyncpg":
        return []
    bad = drivers.asyncpg_rejected(url.query)
    if not bad:
        return []
    hint = "ssl=require in the URL" if "sslmode" in bad else "connect_args"
    return [Finding("url.asyncpg-libpq-params", "critical",
                    f"+asyncpg gets the query parameters as keyword arguments and rejects {', '.join(bad)} "
                    f"(TypeError: connect() got an unexpected keyword argument '{bad[0]}'); use {hint}, "
                    "connect_args={'timeout': 10, 'server_settings': {...}}")]


def _timeout(url: ParsedUrl, driver: str, *_: Any) -> list[Finding]:
    if driver == "asyncpg":
        if "timeout" in url.query:
            return []
        return [Finding("url.connect-timeout-missing", "info",
                        "no connect timeout: asyncpg waits 60 s by default; pass connect_args={'timeout': 10}")]
    value = url.query.get("connect_timeout")
    if value is None or value.strip() in ("", "0"):
        severity = "info" if url.is_local else "warn"
        what = "connect_timeout=0 waits" if value else "no connect_timeout: libpq waits"
        return [Finding("url.connect-timeout-missing", severity,
                        f"{what} forever for an unreachable host; add connect_timeout=10 (or connect_args)")]
    return []
