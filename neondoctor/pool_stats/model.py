"""One sample as data: slot arithmetic, visibility, attribution by application/user/client/database.

Pure: built from the JSON document `SAMPLE_SQL` returns (or from a recording); no I/O.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from neondoctor.url import ParsedUrl

STATES = ("active", "idle", "idle in transaction", "idle in transaction (aborted)", "hidden")
IDLE_IN_TX = ("idle in transaction", "idle in transaction (aborted)")


@dataclass(frozen=True)
class ServerLimits:
    version: str
    version_num: int
    max_connections: int
    superuser_reserved_connections: int
    reserved_connections: int | None  # None before PostgreSQL 16 (the setting does not exist)
    in_use: int  # client backends, neondoctor's own connection excluded

    @property
    def available(self) -> int:
        """Slots an ordinary role may use."""
        return self.max_connections - self.superuser_reserved_connections - (self.reserved_connections or 0)

    @property
    def free(self) -> int:
        # Superuser sessions take slots from the same list, so they shrink what ordinary roles get.
        return max(0, self.available - self.in_use)

    @property
    def usage_pct(self) -> float:
        return round(100.0 * self.in_use / self.available, 1) if self.available > 0 else 100.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "available": self.available, "free": self.free, "usage_pct": self.usage_pct}


@dataclass(frozen=True)
class Visibility:
    current_user: str
    is_superuser: bool
    read_all_stats: bool  # pg_read_all_stats (included in pg_monitor) or its privileges
    hidden: int  # sessions whose state, client address and backend type were not visible
    hidden_maybe_background: int  # of those, how many look like autovacuum workers
    self_pid: int
    self_excluded: bool = True

    @property
    def full(self) -> bool:
        return self.is_superuser or self.read_all_stats

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "full": self.full}


@dataclass(frozen=True)
class GroupStats:
    key: str
    connections: int
    active: int
    idle: int
    idle_in_transaction: int
    hidden: int
    oldest_idle_s: float | None
    longest_idle_in_transaction_s: float | None
    idle_over_recycle: int
    waiting_on_lock: int

    def to_dict(self, key_name: str) -> dict[str, Any]:
        data = asdict(self)
        data[key_name] = data.pop("key")
        return {key_name: data.pop(key_name), **data}


@dataclass(frozen=True)
class Session:
    """A session worth naming: idle in transaction, or waiting on a lock."""

    pid: int
    usename: str | None
    application_name: str | None
    client_addr: str | None
    datname: str | None
    state: str
    state_age_s: float | None
    xact_age_s: float | None
    wait_event_type: str | None
    wait_event: str | None
    blocked_by: list[int] | None


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    connections: int


@dataclass(frozen=True)
class Snapshot:
    taken_at: float  # time.time()
    server: ServerLimits
    visibility: Visibility
    by_state: dict[str, int]
    by_application: list[GroupStats]
    by_user: list[GroupStats]
    by_client_addr: list[GroupStats]
    by_database: list[GroupStats]
    sessions: list[Session]  # idle in transaction or waiting on a lock, oldest first
    role_limits: list[Limit]
    database_limits: list[Limit]
    idle_in_transaction_session_timeout_ms: int | None
    idle_session_timeout_ms: int | None
    recycle_s: float | None
    is_neon: bool = False
    is_neon_pooler: bool = False

    @property
    def active(self) -> int:
        return self.by_state.get("active", 0)

    @property
    def idle_in_transaction(self) -> int:
        return sum(self.by_state.get(s, 0) for s in IDLE_IN_TX)

    @classmethod
    def from_document(cls, doc: dict[str, Any], *, recycle_s: float | None = None,
                      taken_at: float | None = None, parsed: ParsedUrl | None = None) -> Snapshot:
        server = ServerLimits(
            version=doc["version"], version_num=int(doc["version_num"]),
            max_connections=int(doc["max_connections"]),
            superuser_reserved_connections=int(doc["superuser_reserved_connections"]),
            reserved_connections=doc.get("reserved_connections"),
            in_use=int(doc["in_use"]),
        )
        by_state = {s: 0 for s in STATES}
        by_state.update({k: int(v) for k, v in (doc.get("by_state") or {}).items()})
        groups: dict[str, list[GroupStats]] = {"application": [], "user": [], "client_addr": [], "database": []}
        for g in doc.get("groups") or []:
            dim = g.pop("dim")
            groups[dim].append(GroupStats(**g))
        visibility = Visibility(
            current_user=doc["current_user"], is_superuser=bool(doc["is_superuser"]),
            read_all_stats=bool(doc["read_all_stats"]), hidden=by_state.get("hidden", 0),
            hidden_maybe_background=int(doc.get("hidden_maybe_background") or 0),
            self_pid=int(doc["self_pid"]),
        )
        return cls(
            taken_at=taken_at if taken_at is not None else time.time(),
            server=server, visibility=visibility, by_state=by_state,
            by_application=groups["application"], by_user=groups["user"],
            by_client_addr=groups["client_addr"], by_database=groups["database"],
            sessions=[Session(**s) for s in doc.get("details") or []],
            role_limits=[Limit(**r) for r in doc.get("role_limits") or []],
            database_limits=[Limit(**d) for d in doc.get("database_limits") or []],
            idle_in_transaction_session_timeout_ms=doc.get("idle_in_transaction_session_timeout_ms"),
            idle_session_timeout_ms=doc.get("idle_session_timeout_ms"),
            recycle_s=recycle_s,
            is_neon=bool(parsed and parsed.is_neon), is_neon_pooler=bool(parsed and parsed.is_neon_pooler),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "taken_at": self.taken_at,
            "server": self.server.to_dict(),
            "visibility": self.visibility.to_dict(),
            "by_state": dict(self.by_state),
            "by_application": [g.to_dict("application_name") for g in self.by_application],
            "by_user": [g.to_dict("user") for g in self.by_user],
            "by_client_addr": [g.to_dict("client_addr") for g in self.by_client_addr],
            "by_database": [g.to_dict("database") for g in self.by_database],
            "sessions": [asdict(s) for s in self.sessions],
            "role_limits": [asdict(r) for r in self.role_limits],
            "database_limits": [asdict(d) for d in self.database_limits],
            "idle_in_transaction_session_timeout_ms": self.idle_in_transaction_session_timeout_ms,
            "idle_session_timeout_ms": self.idle_session_timeout_ms,
            "recycle_s": self.recycle_s,
        }




@dataclass(frozen=True)
class Point:
    t: float
    in_use: int
    active: int
    idle: int = 0
    idle_in_transaction: int = 0

    @classmethod
    def of(cls, snap: Snapshot) -> Point:
        return cls(snap.taken_at, snap.server.in_use, snap.active, snap.by_state.get("idle", 0),
                   snap.idle_in_transaction)


