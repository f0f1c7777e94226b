"""What every probe shares: the context it reads, the result it returns, its parameter schema."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neondoctor.netcheck import resolve, tcp_connect
from neondoctor.url import ParsedUrl

if TYPE_CHECKING:
    from neondoctor.triage.target import ErrorTarget

CONFIRMED = "confirmed"
RULED_OUT = "ruled_out"
INCONCLUSIVE = "inconclusive"
STATUSES = (CONFIRMED, RULED_OUT, INCONCLUSIVE)


@dataclass(frozen=True)
class ProbeResult:
    status: str
    evidence: str

    @classmethod
    def confirmed(cls, evidence: str) -> ProbeResult:
        return cls(CONFIRMED, evidence)

    @classmethod
    def ruled_out(cls, evidence: str) -> ProbeResult:
        return cls(RULED_OUT, evidence)

    @classmethod
    def inconclusive(cls, evidence: str) -> ProbeResult:
        return cls(INCONCLUSIVE, evidence)


@dataclass
class ProbeContext:
    """What the walk knows before any probe runs. Probes only read it."""

    database_url: str | None = None
    url_source: str | None = None
    url_error: str | None = None  # why DATABASE_URL could not be loaded or parsed
    parsed: ParsedUrl | None = None
    engine_ref: str | None = None  # --engine module:attr
    cwd: Path = field(default_factory=Path.cwd)
    timeout: int = 5  # seconds, for every network step
    python: str | None = None  # --python: the app's interpreter (else VIRTUAL_ENV, ./.venv, or neondoctor's own)
    matched_text: str | None = None
    direct: ParsedUrl | None = None  # the server behind a pooler (DATABASE_URL_UNPOOLED, --direct-url, Neon)
    direct_source: str | None = None
    error_target: ErrorTarget | None = None  # what the pasted error says about its server (triage/target.py)
    target_differs: tuple[str, ...] | None = None  # fields where DATABASE_URL names another target


def server_side(ctx: ProbeContext) -> ProbeContext:
    """The context a probe of the server's own state should use: behind a pooler, the direct URL.

    Through a transaction-mode pooler a probe's query waits in the same queue as the app's (and
    can time out the same way); the direct URL reaches the server's views without queueing."""
    if ctx.direct is None:
        return ctx
    from dataclasses import replace

    return replace(ctx, parsed=ctx.direct)


def endpoint(ctx: ProbeContext) -> tuple[str | None, int, str]:
    """(host, port, whose) for network probes: the error's own server when DATABASE_URL names another
    host or port (probing the URL's server would prove nothing), else DATABASE_URL's."""
    url, target = ctx.parsed, ctx.error_target
    assert url is not None
    host, port = url.host, url.port or 5432
    if target is not None and ctx.target_differs and {"host", "port"} & set(ctx.target_differs):
        return (target.host or target.address or host), (target.port or port), "the error's"
    return host, port, "DATABASE_URL's"


@dataclass(frozen=True)
class Param:
    """One parameter a probe takes from a runbook step's `params:`; runbook validation checks it up front."""

    kind: type | tuple[type, ...]
    choices: tuple[Any, ...] = ()  # the allowed values (for a list: of each item); () means any of `kind`
    required: bool = False
    help: str = ""

    def problem(self, value: Any) -> str | None:
        """Why `value` is not acceptable, or None."""
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        # YAML's true/false are bools, and bool is an int: only a bool parameter takes one
        if not isinstance(value, kinds) or isinstance(value, bool) != (bool in kinds):
            return f"{value!r} is not {' or '.join(_KIND_NAMES.get(k, k.__name__) for k in kinds)}"
        if self.choices:
            items = value if isinstance(value, list) else [value]
            bad = [v for v in items if v not in self.choices]
            if bad:
                return f"{bad[0]!r} is not one of: {', '.join(map(str, self.choices))}"
        return None


_KIND_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list"}


@dataclass(frozen=True)
class Probe:
    """A probe: its id (the name runbook steps use, and its module's name), what it checks, and how.

    `in_runbooks=False` marks a probe the walk runs by itself (target), which no step may name."""

    id: str
    summary: str
    run: Callable[[ProbeContext, dict[str, Any]], ProbeResult]
    params: dict[str, Param] = field(default_factory=dict)
    in_runbooks: bool = True

    def check_params(self, params: dict[str, Any]) -> list[tuple[str | None, str]]:
        """(key, problem) for each problem of a step's params; key None: the mapping as a whole."""
        problems: list[tuple[str | None, str]] = []
        for key, value in params.items():
            if key not in self.params:
                allowed = ", ".join(self.params) or "none"
                problems.append((None, f"unknown parameter {key!r} for probe {self.id!r} (allowed: {allowed})"))
            elif (why := self.params[key].problem(value)) is not None:
                problems.append((str(key), why))
        for key, param in self.params.items():
            if param.required and key not in params:
                problems.append((key, f"missing: probe {self.id!r} needs it"))
        return problems


def need_url(ctx: ProbeContext) -> ProbeResult | None:
    """The inconclusive result for probes that need a parsed DATABASE_URL, or None when there is one."""
    if ctx.parsed is None:
        why = ctx.url_error or "DATABASE_URL is not set"
        return ProbeResult.inconclusive(f"cannot check without a usable DATABASE_URL: {why}")
    return None


def open_socket(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to the first address of host, bounded in total by about `timeout` (+ resolution)."""
    return tcp_connect(resolve(host, port, timeout)[0], timeout)


def first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__


def attempt_connect(ctx: ProbeContext) -> tuple[Any, BaseException | None, str | None]:
    """(session, error, why-not-tried). One bounded read-only session in the URL's own driver
    (neondoctor.connect.Session); the caller closes it. The driver's own error is the evidence."""
    if ctx.parsed is None:
        return None, None, ctx.url_error or "DATABASE_URL is not set"
    from neondoctor.connect import Session
    from neondoctor.errors import ConfigError

    try:
        session = Session(ctx.parsed, timeout=ctx.timeout)
    except ConfigError as exc:  # a driver neondoctor cannot speak here, or asyncpg given libpq parameters
        return None, None, f"neondoctor cannot open a connection: {exc}"
    try:
        session.open()
    except Exception as exc:
        return None, exc, None
    try:
        session.begin_read_only()  # probes only read; bounded server-side too
    except Exception as exc:
        close_quietly(session)
        return None, exc, None
    return session, None, None


def close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:
        pass


# The session's own value of a setting, as RESET would restore it (server, database, role and startup
# `options`), not current_setting(): attempt_connect's read-only transaction sets a local
# idle_in_transaction_session_timeout of its own, which must not pass for the server's.
SESSION_SETTING_SQL = "SELECT reset_val, unit FROM pg_settings WHERE name = %s"
_UNITS = {"ms": ((86_400_000, "d"), (3_600_000, "h"), (60_000, "min"), (1000, "s"), (1, "ms")),
          "s": ((86_400, "d"), (3600, "h"), (60, "min"), (1, "s")),
          "min": ((1440, "d"), (60, "h"), (1, "min"))}


def session_setting(conn: Any, name: str) -> str | None:
    """`name`'s value outside the probe's transaction, shown as PostgreSQL shows it (5min, 20s, 0);
    None when the server has no such setting (too old)."""
    rows = conn.query(SESSION_SETTING_SQL, (name,))
    if not rows:
        return None
    value, unit = str(rows[0][0]), rows[0][1]
    if unit in _UNITS and value.lstrip("-").isdigit():
        number = int(value)
        if number <= 0:
            return str(number)
        size, suffix = next((size, suffix) for size, suffix in _UNITS[unit] if number % size == 0)
        return f"{number // size}{suffix}"
    return value + (unit or "")


