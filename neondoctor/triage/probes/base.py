"""What every probe shares: the context it reads, the result it returns, its parameter schema."""

from __future__ import annotations

import importlib.util
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neondoctor.netcheck import resolve
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
class Probe:
    id: str
    summary: str
    run: Callable[[ProbeContext, dict[str, Any]], ProbeResult]
    params: dict[str, type | tuple[type, ...]] = field(default_factory=dict)

    def check_params(self, params: dict[str, Any]) -> list[str]:
        problems = []
        for key, value in params.items():
            if key not in self.params:
                allowed = ", ".join(self.params) or "none"
                problems.append(f"unknown parameter {key!r} for probe {self.id!r} (allowed: {allowed})")
            elif not isinstance(value, self.params[key]) or isinstance(value, bool) != (self.params[key] is bool):
                problems.append(f"parameter {key!r} of probe {self.id!r} has the wrong type")
        return problems


def need_url(ctx: ProbeContext) -> ProbeResult | None:
    """The inconclusive result for probes that need a parsed DATABASE_URL, or None when there is one."""
    if ctx.parsed is None:
        why = ctx.url_error or "DATABASE_URL is not set"
        return ProbeResult.inconclusive(f"cannot check without a usable DATABASE_URL: {why}")
    return None


def open_socket(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to the first address of host, bounded in total by about `timeout` (+ resolution)."""
    family, kind, proto, _, addr = resolve(host, port, timeout)[0]
    sock = socket.socket(family, kind, proto)
    sock.settimeout(timeout)
    try:
        sock.connect(addr)
    except BaseException:
        sock.close()
        raise
    return sock


def first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__


def classify_connect_error(exc: BaseException) -> str:
    """auth | slots | database | ssl | network | other (the one classifier: neondoctor.connect)."""
    from neondoctor.connect import classify_connect_error as classify

    return classify(exc)


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


def importable(module: str) -> bool:
    """find_spec without importing; an import hook that refuses the module counts as not importable."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
