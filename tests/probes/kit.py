"""What every probe test uses: a context built from the real dataclasses, and a check of one result."""

from __future__ import annotations

from typing import Any

from neondoctor.triage.probes.base import ProbeContext, ProbeResult
from neondoctor.url import parse_url


def context(url: str | None = None, *, timeout: int = 3, **fields: Any) -> ProbeContext:
    """The context the walk would build for DATABASE_URL=url (walk.build_context without the environment)."""
    parsed = parse_url(url) if url else None
    return ProbeContext(database_url=url, url_source="environment" if url else None, parsed=parsed,
                        timeout=timeout, **fields)


def expect(result: ProbeResult, status: str, *phrases: str) -> str:
    """Assert the status and that the evidence names each phrase; returns the evidence."""
    assert result.status == status, result
    for phrase in phrases:
        assert phrase in result.evidence, (phrase, result.evidence)
    return result.evidence


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
