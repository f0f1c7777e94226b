"""Does the host name resolve? (Bounded: getaddrinfo itself has no timeout.)"""

from __future__ import annotations

import socket
from typing import Any

from neondoctor.netcheck import resolve as resolve_addrinfo
from neondoctor.triage.probes.base import Probe, ProbeContext, ProbeResult, endpoint, need_url


def resolve(host: str, port: int, timeout: float) -> list[str]:
    return list(dict.fromkeys(str(info[4][0]) for info in resolve_addrinfo(host, port, timeout)))


def run(ctx: ProbeContext, params: dict[str, Any]) -> ProbeResult:
    if (missing := need_url(ctx)) is not None:
        return missing
    url = ctx.parsed
    assert url is not None
    host, port, whose = endpoint(ctx)
    if not host or host.startswith("/"):
        return ProbeResult.ruled_out(f"no host name: {whose} target is a Unix socket")
    try:
        addrs = resolve(host, port, ctx.timeout)
    except socket.gaierror as exc:
        return ProbeResult.confirmed(f"host {host!r} does not resolve: {exc.strerror or exc}")
    except TimeoutError as exc:
        return ProbeResult.confirmed(f"resolving {host!r} got {exc}: the resolver is unreachable or slow")
    except (OSError, UnicodeError) as exc:
        return ProbeResult.confirmed(f"host {host!r} cannot be resolved: {exc}")
    return ProbeResult.ruled_out(f"{host} resolves to {', '.join(addrs[:3])}")


PROBE = Probe(id="dns", summary="the host name resolves", run=run)
