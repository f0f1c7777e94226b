"""Does the server's TLS support match the client's sslmode?

Sends PostgreSQL's SSLRequest packet over a raw socket and reads the one-byte answer:
'S' (the server will do TLS) or 'N' (it will not). No credentials are sent.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from neondoctor.netcheck import ask_ssl
from neondoctor.triage.probes.base import Probe, ProbeContext, ProbeResult, endpoint, need_url, open_socket

REQUIRES_TLS = ("require", "verify-ca", "verify-full")


def server_tls_answer(host: str, port: int, timeout: float) -> bytes:
    with open_socket(host, port, timeout) as sock:
        return ask_ssl(sock)


def client_sslmode(query: dict[str, str]) -> tuple[str, str]:
    if "sslmode" in query:
        return query["sslmode"], "sslmode in the URL"
    if "ssl" in query:  # asyncpg's spelling
        value = query["ssl"].lower()
        return ("require" if value in ("true", "1") else value), "ssl in the URL"
    if os.environ.get("PGSSLMODE"):
        return os.environ["PGSSLMODE"], "PGSSLMODE"
    return "prefer", "libpq's default"


def run(ctx: ProbeContext, params: dict[str, Any]) -> ProbeResult:
    if (missing := need_url(ctx)) is not None:
        return missing
    url = ctx.parsed
    assert url is not None
    host, port, whose = endpoint(ctx)
    if not host or host.startswith("/"):
        return ProbeResult.ruled_out("Unix socket: TLS does not apply")
    mode, source = client_sslmode(url.query)
    if whose == "the error's" and ctx.error_target and ctx.error_target.sslmode:
        mode, source = ctx.error_target.sslmode, "sslmode in the error"
    where = f"{host}:{port}" + (" (the error's server)" if whose == "the error's" else "")
    try:
        answer = server_tls_answer(host, port, ctx.timeout)
    except TimeoutError:
        return ProbeResult.inconclusive(
            f"{where} accepted TCP but sent no answer to the SSLRequest within {ctx.timeout} s: something "
            "there does not speak PostgreSQL (a firewall, a proxy, or a hung server)")
    except OSError as exc:
        return ProbeResult.inconclusive(f"could not reach {where} to ask about TLS: {exc.strerror or exc}")
    if answer == b"S":
        if url.is_neon and mode in ("disable", "allow"):
            return ProbeResult.confirmed(f"Neon requires TLS but the client uses sslmode={mode} ({source})")
        if mode in ("verify-ca", "verify-full"):
            root = url.query.get("sslrootcert") or os.environ.get("PGSSLROOTCERT") or str(
                Path.home() / ".postgresql" / "root.crt")
            if root != "system" and not Path(root).is_file():
                return ProbeResult.confirmed(f"sslmode={mode} verifies the server certificate, but the root "
                                             f"certificate file {root} does not exist")
        return ProbeResult.ruled_out(f"the server accepts TLS; the client uses sslmode={mode} ({source})")
    if answer == b"N":
        if mode in REQUIRES_TLS:
            return ProbeResult.confirmed(f"the server does not support TLS (answered 'N' to SSLRequest) but the "
                                         f"client requires it: sslmode={mode} ({source})")
        return ProbeResult.ruled_out(f"the server does not do TLS and the client does not require it "
                                     f"(sslmode={mode}, {source})")
    if not answer:
        return ProbeResult.inconclusive(f"{where} closed the connection without answering the SSLRequest")
    return ProbeResult.inconclusive(f"{where} answered {answer!r} to the SSLRequest: not a PostgreSQL server?")


PROBE = Probe(id="tls", summary="the server's TLS support matches the client's sslmode", run=run)
