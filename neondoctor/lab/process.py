"""Running the lab's server programs: as which user, bounded in time, on a free local port.

As root, PostgreSQL and PgBouncer refuse to run (or should not): they run as an unprivileged user
(NEONDOCTOR_LAB_USER, default `nobody`), and the files they read are handed to that user.
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neondoctor.errors import LabError

TIMEOUT = 60  # seconds for one server program (pg_ctl, initdb has its own)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_user() -> tuple[int, int, str] | None:
    """The unprivileged account the server runs as when we are root; None when not root."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("NEONDOCTOR_LAB_USER", "nobody")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise LabError(f"running as root needs an unprivileged user for the server: {name!r} does not exist (NEONDOCTOR_LAB_USER)") from None
    if entry.pw_uid == 0:
        raise LabError(f"NEONDOCTOR_LAB_USER={name} is root; PostgreSQL refuses to run as root")
    return entry.pw_uid, entry.pw_gid, name


def give_to_server(path: Path) -> None:
    """Hand `path` to the server user (as root); nothing to do otherwise."""
    if owner := server_user():
        os.chown(path, owner[0], owner[1])


def as_server_user() -> dict[str, Any]:
    """subprocess.run arguments that drop to the server user (as root); none otherwise."""
    owner = server_user()
    return {"user": owner[0], "group": owner[1], "extra_groups": []} if owner else {}


def run(args: list[str], *, home: str, timeout: float = TIMEOUT, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a server program as the server user, in a clean C locale; a failure is one LabError line."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
    kwargs = as_server_user()
    if kwargs:
        env["HOME"] = home
    try:
        proc = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, env=env, cwd="/", **kwargs
        )
    except subprocess.TimeoutExpired:
        raise LabError(f"{Path(args[0]).name} did not finish within {timeout:.0f}s") from None
    except OSError as exc:
        raise LabError(f"cannot run {args[0]}: {exc.strerror}") from None
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise LabError(f"{Path(args[0]).name} failed (exit {proc.returncode}): {' | '.join(detail)}")
    return proc


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def log_tail(path: Path, lines: int = 5) -> str:
    """The last lines of a server's log, on one line (for an error message)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(text.strip().splitlines()[-lines:])
