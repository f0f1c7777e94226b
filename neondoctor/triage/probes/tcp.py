"""Does anything accept a TCP connection at host:port?"""

from __future__ import annotations

import socket
from typing import Any

from neondoctor.triage.probes.base import Probe, ProbeContext, ProbeResult, endpoint, need_url, open_socket


def run(ctx: ProbeContext, params: dict[str, Any]) -> ProbeResult:
    if (missing := need_url(ctx)) is not None:
        return missing
    url = ctx.parsed
    assert url is not None
    host, port, whose = endpoint(ctx)
    if not host or host.startswith("/"):
        return ProbeResult.inconclusive(f"{whose} target is a Unix socket: TCP does not apply")
    where = f"{host}:{port}" + (" (the error's server)" if whose == "the error's" else "")
    try:
        with open_socket(host, port, ctx.timeout):
            pass
    except ConnectionRefusedError:
        return ProbeResult.confirmed(f"{where} refused the connection: nothing listens on that port "
                                     "(server down, wrong port, or listen_addresses excludes this interface)")
    except TimeoutError:
        return ProbeResult.confirmed(f"{where} did not answer within {ctx.timeout} s: a firewall drops the "
                                     "packets or the host is down")
    except socket.gaierror as exc:
        return ProbeResult.inconclusive(f"{host!r} does not resolve ({exc.strerror}): see the DNS step")
    except OSError as exc:
        return ProbeResult.confirmed(f"{where} is unreachable: {exc.strerror or exc}")
    return ProbeResult.ruled_out(f"{where} accepts TCP connections")


PROBE = Probe(id="tcp", summary="host:port accepts TCP connections", run=run)
