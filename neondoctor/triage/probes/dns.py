"""Does the host name resolve? (Bounded: getaddrinfo itself has no timeout.)"""

from __future__ import annotations

import socket
from typing import Any

from neondoctor.netcheck import resolve as resolve_addrinfo
from neondoctor.triage.probes.base import Probe, ProbeContext, ProbeResult, need_url


def resolve(host: str, port: int, timeout: float) -> list[str]:
    return list(dict.fromkeys(str(info[4][0]) for info in resolve_addrinfo(host, port, timeout)))


def run(ctx: ProbeContext, params: dict[str, Any]) -> ProbeResult:
    if (missing := need_url(ctx)) is not None:
        return missing
    url = ctx.parsed
    assert url is not None
    if not url.host or url.host.startswith("/"):
        return ProbeResult.ruled_out("no host name: the URL uses a Unix socket")
    try:
        addrs = resolve(url.host, url.port or 5432, ctx.timeout)
    except socket.gaierror as exc:
        return ProbeResult.confirmed(f"host {url.host!r} does not resolve: {exc.strerror or exc}")
    except TimeoutError as exc:
        return ProbeResult.confirmed(f"resolving {url.host!r} got {exc}: the resolver is unreachable or slow")
    except (OSError, UnicodeError) as exc:
        return ProbeResult.confirmed(f"host {url.host!r} cannot be resolved: {exc}")
    return ProbeResult.ruled_out(f"{url.host} resolves to {', '.join(addrs[:3])}")


PROBE = Probe(id="dns", summary="the host name resolves", run=run)
