"""Where connection time goes: DNS, TCP, TLS, startup+auth, first query, pooled checkout.

Connect, first query and pooled checkout are measured with the URL's own driver (psycopg2,
psycopg 3 or asyncpg; a bare postgresql:// gets SQLAlchemy's default, see `neondoctor.drivers`).
Every step is bounded by `timeout` seconds, an open connection by the watchdog too, so a dead,
black-holed or frozen host ends with a verdict (Unreachable, exit 4) instead of a hang.
Durations are kept in milliseconds.
"""

from __future__ import annotations

import contextlib
import math
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from neondoctor.connect import Session, Unreachable, unreachable
from neondoctor.errors import ConfigError, NeondoctorError
from neondoctor.latency.pooled import measure_pooled
from neondoctor.netcheck import ask_ssl, resolve, tcp_connect
from neondoctor.redaction import redact
from neondoctor.url import ParsedUrl

DEFAULT_ROUNDS = 5
DEFAULT_TIMEOUT = 5.0  # seconds per step, like libpq's connect_timeout
POOLED_SAMPLES_PER_ROUND = 5  # a checkout is ~1000x cheaper than a connect: more samples, same cost

# (key, label) in display order.
STAGES: tuple[tuple[str, str], ...] = (
    ("dns", "DNS lookup"),
    ("tcp", "TCP connect"),
    ("tls", "TLS handshake"),
    ("connect", "connect total"),
    ("auth", "startup + auth (derived)"),
    ("first_query", "first query (SELECT 1)"),
    ("pooled", "pooled checkout"),
    ("pooled_pre_ping", "pooled checkout, pre_ping"),
    ("new_connection", "new connection per query"),
)


@dataclass
class Stage:
    key: str
    label: str
    samples: list[float] = field(default_factory=list)  # milliseconds
    note: str | None = None  # why it was skipped, or how it was derived
    derived_ms: float | None = None  # for `auth`, computed from other medians

    @property
    def skipped(self) -> bool:
        return not self.samples and self.derived_ms is None

    @property
    def median(self) -> float | None:
        if self.derived_ms is not None:
            return self.derived_ms
        return percentile(self.samples, 50) if self.samples else None

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stage": self.key, "label": self.label, "n": len(self.samples)}
        if self.samples:
            out.update(
                median_ms=_r(self.median),
                p10_ms=_r(percentile(self.samples, 10)),
                p90_ms=_r(percentile(self.samples, 90)),
                min_ms=_r(min(self.samples)),
                max_ms=_r(max(self.samples)),
            )
        elif self.derived_ms is not None:
            out["median_ms"] = _r(self.derived_ms)
        else:
            out["median_ms"] = None
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class LatencyReport:
    target: str  # masked URL
    rounds: int
    stages: dict[str, Stage]
    tls: str  # "offered", "not offered", "not requested (sslmode=disable)", "not applicable (Unix socket)"
    meanings: list[str] = field(default_factory=list)
    driver: str = "psycopg2"  # the driver connect/first query/pooled were measured with
    driver_reason: str = ""

    @property
    def connect_vs_pooled(self) -> float | None:
        new, pooled = self.stages["new_connection"].median, self.stages["pooled"].median
        if new is None or not pooled:
            return None
        return new / pooled

    def to_json(self) -> dict[str, Any]:
        ratio = self.connect_vs_pooled
        return {
            "target": self.target,
            "driver": self.driver,
            "driver_reason": self.driver_reason,
            "rounds": self.rounds,
            "tls": self.tls,
            "stages": {key: stage.summary() for key, stage in self.stages.items()},
            "new_connection_vs_pooled": round(ratio, 1) if ratio else None,
            "meanings": self.meanings,
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def percentile(values: list[float], pct: float) -> float:
    """Linear-interpolated percentile; exact for the median of an even count."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * pct / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


# ---------------------------------------------------------------- the network stages


def _resolve(host: str, port: int, timeout: float) -> list[tuple[Any, ...]]:
    try:
        return resolve(host, port, timeout)
    except TimeoutError:
        raise Unreachable(f"DNS lookup of {host} did not answer within {timeout:g}s") from None
    except OSError as exc:
        raise Unreachable(f"DNS lookup of {host} failed: {exc}") from None


def _tcp(addr: tuple[Any, ...], timeout: float) -> socket.socket:
    try:
        return tcp_connect(addr, timeout)
    except TimeoutError:
        raise Unreachable(f"TCP connect to {_fmt(addr[4])} timed out after {timeout:g}s (host down or port filtered)") from None
    except OSError as exc:
        raise Unreachable(f"TCP connect to {_fmt(addr[4])} failed: {exc.strerror or exc}") from None


def _fmt(sockaddr: Any) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _tls_context() -> ssl.SSLContext:
    # Only the handshake's duration matters here; verification is the TLS probe's business.
    # Built once, outside the timed region: loading a trust store costs more than a handshake.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _tls(sock: socket.socket, host: str, timeout: float, ctx: ssl.SSLContext) -> bool:
    """Send SSLRequest; on 'S' complete a TLS handshake (timed, not verified). False on 'N'."""
    sock.settimeout(timeout)
    try:
        answer = ask_ssl(sock)
    except TimeoutError:
        raise Unreachable(
            f"the server accepted TCP but did not answer the SSLRequest within {timeout:g}s "
            "(black-holed host, or not a PostgreSQL server)"
        ) from None
    except OSError as exc:
        raise Unreachable(f"the connection broke during the SSLRequest: {exc.strerror or exc}") from None
    if answer == b"N":
        return False
    if answer != b"S":
        raise Unreachable(f"the server answered the SSLRequest with {answer!r}: not a PostgreSQL server?")
    server_name = None if _is_ip(host) else host  # SNI, which Neon's proxy needs
    try:
        with ctx.wrap_socket(sock, server_hostname=server_name, do_handshake_on_connect=True) as tls:
            tls.settimeout(timeout)
    except TimeoutError:
        raise Unreachable(f"the TLS handshake did not finish within {timeout:g}s") from None
    except (ssl.SSLError, OSError) as exc:
        raise Unreachable(f"the TLS handshake failed: {exc}") from None
    return True


def _is_ip(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            socket.inet_pton(family, host)
            return True
    return False


# ---------------------------------------------------------------- measuring


def measure(parsed: ParsedUrl, *, rounds: int = DEFAULT_ROUNDS, timeout: float = DEFAULT_TIMEOUT,
            progress: Callable[[str], None] | None = None) -> LatencyReport:
    """Run every stage `rounds` times against `parsed`. Raises Unreachable (exit 4) or ConfigError."""
    if rounds < 1:
        raise ConfigError("--rounds must be at least 1")
    stages = {key: Stage(key, label) for key, label in STAGES}
    host = parsed.host or parsed.query.get("host")
    port = parsed.port or int(parsed.query.get("port", "5432") or 5432)
    sslmode = parsed.query.get("sslmode", parsed.query.get("ssl", "prefer")).lower()
    session = Session(parsed, timeout=timeout)  # ConfigError now: a driver not installed, libpq params on asyncpg
    driver = session.driver
    reason = session.choice.reason + (f"; {session.note}" if session.note else "")
    stages["connect"].label = f"connect total ({driver.label})"
    __import__(driver.module)  # imported before the clock starts: the import is not connection time
    unix = not host or host.startswith("/")
    tls_ctx = _tls_context()
    tls_state = "not applicable (Unix socket)" if unix else ("not requested (sslmode=disable)" if sslmode == "disable" else "offered")

    for round_no in range(rounds):
        if progress:
            progress(f"round {round_no + 1}/{rounds}")
        if not unix:
            assert host is not None
            start = time.perf_counter()
            addrs = _resolve(host, port, timeout)
            stages["dns"].samples.append(_ms(start))
            start = time.perf_counter()
            sock = _tcp(addrs[0], timeout)
            stages["tcp"].samples.append(_ms(start))
            try:
                if sslmode != "disable":
                    start = time.perf_counter()
                    offered = _tls(sock, host, timeout, tls_ctx)
                    if offered:
                        stages["tls"].samples.append(_ms(start))
                    else:
                        tls_state = "not offered"
            finally:
                sock.close()
        _connect_round(parsed, stages, timeout)

    samples = measure_pooled(parsed, driver, rounds * POOLED_SAMPLES_PER_ROUND, timeout)
    for key, values in samples.items():
        stages[key].samples.extend(values)

    if unix:
        for key in ("dns", "tcp", "tls"):
            stages[key].note = "Unix socket: no DNS, TCP or TLS"
    elif sslmode == "disable":
        stages["tls"].note = "sslmode=disable: the driver does not ask for TLS"
    elif tls_state == "not offered":
        stages["tls"].note = "the server answered N to SSLRequest: TLS not offered"
    _derive_auth(stages)
    report = LatencyReport(parsed.masked(), rounds, stages, tls_state, driver=driver.name, driver_reason=reason)
    report.meanings = explain(report)
    return report


def driver_error(exc: BaseException) -> NeondoctorError:
    if isinstance(exc, NeondoctorError):
        return exc
    if type(exc).__name__ == "ProgrammingError":  # invalid DSN option: the URL's fault
        return ConfigError(f"DATABASE_URL is not usable by the driver: {redact(str(exc).strip())}")
    err = unreachable(exc)
    return type(err)(f"could not connect: {err.message}")


def _connect_round(parsed: ParsedUrl, stages: dict[str, Stage], timeout: float) -> None:
    session = Session(parsed, timeout=timeout)
    try:
        start = time.perf_counter()
        session.open()
        connected = _ms(start)
        q = time.perf_counter()
        session.query("SELECT 1")
        first = _ms(q)
        session.close()
        total = _ms(start)
    except Exception as exc:
        raise driver_error(exc) from None
    finally:
        session.close()
    stages["connect"].samples.append(connected)
    stages["first_query"].samples.append(first)
    stages["new_connection"].samples.append(total)


def _derive_auth(stages: dict[str, Stage]) -> None:
    connect = stages["connect"].median
    if connect is None:
        return
    network = sum(stages[k].median or 0.0 for k in ("dns", "tcp", "tls"))
    stages["auth"].derived_ms = max(0.0, connect - network)
    stages["auth"].note = "connect total - DNS - TCP - TLS (medians)"


def explain(report: LatencyReport) -> list[str]:
    """What the figures mean, in sentences."""
    s = report.stages
    out: list[str] = []
    ratio = report.connect_vs_pooled
    new, pooled, ping = s["new_connection"].median, s["pooled"].median, s["pooled_pre_ping"].median
    if ratio and new is not None and pooled is not None:
        out.append(f"a new connection costs {ratio:.0f}× a pooled checkout here ({new:.2f} ms vs {pooled:.2f} ms): "
                   "keep a pool, do not connect per request")
    if ping is not None and pooled is not None:
        extra = ping - pooled
        out.append(f"pool_pre_ping adds about {max(extra, 0):.2f} ms per checkout (one extra round trip); "
                   "it is what saves you from a connection the server has dropped")
    connect, auth = s["connect"].median, s["auth"].median
    if connect and auth is not None:
        out.append(f"startup + authentication is {100 * auth / connect:.0f}% of connecting "
                   f"({auth:.2f} of {connect:.2f} ms)")
    if s["tls"].samples and connect:
        tls = s["tls"].median or 0.0
        out.append(f"the TLS handshake is {100 * tls / connect:.0f}% of connecting ({tls:.2f} ms)")
    dns = s["dns"].median
    if dns is not None and dns > 20:
        out.append(f"DNS lookups take {dns:.0f} ms: a slow resolver is paid on every new connection")
    return out
