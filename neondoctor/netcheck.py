"""Raw network steps toward a PostgreSQL server, each bounded in time: name resolution, the TCP
connection and the SSLRequest exchange. Shared by the triage probes and `latency`, so both measure the same thing."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

SSL_REQUEST = struct.pack("!ii", 8, 80877103)  # PostgreSQL's SSLRequest packet


def bounded(func: Callable[[], Any], timeout: float) -> Any:
    """Run a blocking call with a deadline; TimeoutError past it.

    A daemon thread, so a call that never returns (getaddrinfo has no timeout of its own) cannot
    keep the process from exiting.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = func()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name="neondoctor-bounded")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def resolve(host: str, port: int, timeout: float) -> list[tuple[Any, ...]]:
    """getaddrinfo for a TCP connection, bounded by `timeout`. Raises OSError or TimeoutError."""
    try:
        return bounded(lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
    except UnicodeError:  # the IDNA codec refuses an empty label or one over 63 characters
        raise OSError(f"{host[:80]!r} is not a valid host name (an empty label, or one over 63 characters)") from None


def tcp_connect(addr: tuple[Any, ...], timeout: float) -> socket.socket:
    """A TCP connection to one getaddrinfo result, bounded by `timeout`. Raises OSError or TimeoutError."""
    family, kind, proto, _, sockaddr = addr
    sock = socket.socket(family, kind, proto)
    sock.settimeout(timeout)
    try:
        sock.connect(sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


def ask_ssl(sock: socket.socket) -> bytes:
    """Send SSLRequest on a connected socket and read the one-byte answer: b'S', b'N', or other."""
    sock.sendall(SSL_REQUEST)
    return sock.recv(1)
