"""Pure renderers for `lab up|status|start|versions`: what the CLI gathered from the cluster -> text, JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from neondoctor.lab.install import PgInstall


@dataclass(frozen=True)
class LabView:
    """One lab as shown: its status, where its .env is, and its URLs (passwords masked)."""

    status: dict[str, Any]  # LabCluster.status()
    env_file: str
    database_url: str  # direct, masked
    pooler: dict[str, Any] | None = None  # LabPooler.status(), when the lab has PgBouncer in front
    pooled_url: str | None = None  # through the pooler, masked


def _pooler_lines(view: LabView) -> list[str]:
    st = view.pooler
    if st is None:
        return []
    lines = [f"pooler: PgBouncer {st['version']} {'running' if st['running'] else 'stopped'} on 127.0.0.1:{st['port']} "
             f"(pool_mode={st['pool_mode']}, like Neon's -pooler endpoint)"]
    lines += [f"  note: {note}" for note in st["notes"]]
    lines.append(f"  admin console: database pgbouncer on port {st['port']} (SHOW POOLS, SHOW STATS), as postgres")
    return [*lines, f"DATABASE_URL={view.pooled_url}  (pooled)", f"DATABASE_URL_UNPOOLED={view.database_url}  (direct)"]


def _usage_lines(view: LabView) -> list[str]:
    env = view.env_file
    urls = _pooler_lines(view) or [f"DATABASE_URL={view.database_url}"]
    return [
        *urls,
        f"env file (mode 0600, holds the password): {env}",
        "use it:",
        f"  neondoctor --env-file {env} url",
        f"  export $(grep DATABASE_URL {env})",
    ]


def status_text(view: LabView, *, colour: bool = False) -> str:
    st = view.status
    state = "running" if st["running"] else "stopped"
    lines = [
        f"lab: PostgreSQL {st['version']} {state} on 127.0.0.1:{st['port']}",
        f"  directory: {st['root']}",
        f"  data:      {st['data_dir']}" + (f" (server runs as {st['server_user']})" if st["server_user"] else ""),
        f"  binaries:  {st['bindir']}",
    ]
    spec = st["spec"]
    lines.append(
        f"  config:    auth={spec['auth']} max_connections={spec['max_connections']} "
        f"superuser_reserved={spec['superuser_reserved_connections']} reserved={spec['reserved_connections']} "
        f"ssl={'on' if spec['ssl'] else 'off'} idle_session_timeout={spec['idle_session_timeout_ms']}ms"
    )
    return "\n".join(lines + _usage_lines(view))


def status_json(view: LabView) -> dict[str, Any]:
    return {**view.status, "exists": True, "database_url": view.database_url}


def absent_text(root: str, *, colour: bool = False) -> str:
    return f"no lab in {root} (`neondoctor lab up` creates one)"


def absent_json(root: str) -> dict[str, Any]:
    return {"root": root, "exists": False, "running": False}


def versions_text(installs: Sequence[PgInstall], *, colour: bool = False) -> str:
    return "\n".join(f"PostgreSQL {i.version:<8} {i.source:<24} {i.bindir}" for i in installs)


def versions_json(installs: Sequence[PgInstall]) -> list[dict[str, Any]]:
    return [{"major": i.major, "version": i.version, "source": i.source, "bindir": str(i.bindir)} for i in installs]
