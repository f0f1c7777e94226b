"""Does DATABASE_URL name the server, port, user and database the error names?

Checking another server than the failing one proves nothing, and an app running with another
configuration than the one checked here is a common cause of its own. Only fields both sides name
are compared; an error that prints only an address is compared with what the URL's host resolves to.
"""

from __future__ import annotations

from typing import Any

from neondoctor.netcheck import resolve
from neondoctor.triage.probes.base import Probe, ProbeContext, ProbeResult, need_url
from neondoctor.triage.target import differences


def url_side(ctx: ProbeContext) -> str:
    """user@host:port/database of DATABASE_URL, without its password."""
    url = ctx.parsed
    assert url is not None
    host = url.host or url.query.get("host") or "(Unix socket)"
    user = f"{url.username}@" if url.username else ""
    return f"{user}{host}:{url.port or 5432}" + (f"/{url.database}" if url.database else "")


def _addresses(host: str | None, port: int, timeout: float) -> tuple[str, ...]:
    if not host or host.startswith("/"):
        return ()
    try:
        return tuple(dict.fromkeys(str(info[4][0]) for info in resolve(host, port, timeout)))
    except (OSError, UnicodeError):
        return ()


def compare(ctx: ProbeContext) -> tuple[str, ...]:
    """The differing fields (host, port, user, database); () when the error names nothing comparable."""
    target, url = ctx.error_target, ctx.parsed
    if target is None or url is None:
        return ()
    host = url.host or url.query.get("host")
    needs_dns = bool(target.address and not target.host and host)
    addrs = _addresses(host, url.port or 5432, ctx.timeout) if needs_dns else ()
    return differences(target, host, url.port, url.username, url.database, addrs)


def run(ctx: ProbeContext, params: dict[str, Any]) -> ProbeResult:
    if (missing := need_url(ctx)) is not None:
        return missing
    target = ctx.error_target
    if target is None or not (target.names_endpoint or target.user or target.database):
        return ProbeResult.inconclusive("the error names no server, user or database to compare with")
    diffs = ctx.target_differs if ctx.target_differs is not None else compare(ctx)
    sides = f"the error: {target.describe()}; DATABASE_URL ({ctx.url_source or 'given'}): {url_side(ctx)}"
    if diffs:
        return ProbeResult.confirmed(f"different {' and '.join(diffs)}: {sides}")
    return ProbeResult.ruled_out(f"same target: {sides}")


PROBE = Probe(id="target", summary="DATABASE_URL names the server, port, user and database of the error", run=run,
              in_runbooks=False)  # the walk runs it first by itself
