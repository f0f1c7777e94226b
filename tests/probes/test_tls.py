"""tls: does the server's TLS support match the client's sslmode?

A one-shot listener answers PostgreSQL's SSLRequest with a chosen byte, as a server would ('S' or
'N'), or with nothing: the probe reads the real bytes over a real socket.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from neondoctor.triage.probes.tls import PROBE

from .kit import context, expect

SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")


@pytest.fixture
def answering() -> Iterator[object]:
    """answering(b"N") -> a port whose listener answers the SSLRequest with those bytes, then closes."""
    socks: list[socket.socket] = []

    def start(answer: bytes) -> int:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        socks.append(server)

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                assert conn.recv(8) == SSL_REQUEST
                conn.sendall(answer)

        threading.Thread(target=serve, daemon=True).start()
        return int(server.getsockname()[1])

    yield start
    for sock in socks:
        sock.close()


def test_server_without_tls_and_a_client_that_requires_it_is_confirmed(answering: object) -> None:
    port = answering(b"N")  # type: ignore[operator]
    expect(PROBE.run(context(f"postgresql://app@127.0.0.1:{port}/app?sslmode=require"), {}), "confirmed",
           "answered 'N' to SSLRequest", "sslmode=require (sslmode in the URL)")


def test_server_without_tls_and_a_client_that_does_not_require_it_is_ruled_out(answering: object,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGSSLMODE", raising=False)
    port = answering(b"N")  # type: ignore[operator]
    expect(PROBE.run(context(f"postgresql://app@127.0.0.1:{port}/app"), {}), "ruled_out",
           "sslmode=prefer, libpq's default")


def test_verify_full_without_the_root_certificate_is_confirmed(answering: object, tmp_path: Path) -> None:
    port = answering(b"S")  # type: ignore[operator]
    missing = tmp_path / "root.crt"
    expect(PROBE.run(context(f"postgresql://app@127.0.0.1:{port}/app?sslmode=verify-full&sslrootcert={missing}"), {}),
           "confirmed", f"root certificate file {missing} does not exist")
    port = answering(b"S")  # type: ignore[operator]
    expect(PROBE.run(context(f"postgresql://app@127.0.0.1:{port}/app?sslmode=require"), {}), "ruled_out",
           "the server accepts TLS")


def test_no_answer_or_a_strange_one_is_inconclusive(answering: object, blackhole_port: int) -> None:
    expect(PROBE.run(context(f"postgresql://app@127.0.0.1:{blackhole_port}/app", timeout=1), {}), "inconclusive",
           "sent no answer to the SSLRequest within 1 s")
    port = answering(b"")  # type: ignore[operator]
    expect(PROBE.run(context(f"postgresql://app@127.0.0.1:{port}/app"), {}), "inconclusive",
           "closed the connection without answering")
    port = answering(b"H")  # type: ignore[operator]
    expect(PROBE.run(context(f"postgresql://app@127.0.0.1:{port}/app"), {}), "inconclusive",
           "answered b'H'", "not a PostgreSQL server?")
