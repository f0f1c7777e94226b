"""Connection slots in use, by whom, against what the server allows; pool sizing; leak heuristic.

Safe during an incident: one connection (`connect.read_only`, in the URL's driver), bounded timeouts, a READ ONLY
transaction, and ONE statement per sample. If even that connection is refused because the slots
are full, that refusal is the result (`SlotsFull`), not a crash.

The arithmetic follows PostgreSQL's own check in `InitPostgres`: an ordinary role may connect while
more than `superuser_reserved_connections + reserved_connections` of the `max_connections` client
slots are free. Background workers, autovacuum and WAL senders have slots of their own and do not
count. Without `pg_read_all_stats`, other roles' sessions show NULL `backend_type`/`state`, so they
are counted as rows and reported as hidden instead of being silently dropped.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

from neondoctor import connect
from neondoctor.errors import ConfigError
from neondoctor.findings import Finding, sort_findings
from neondoctor.url import ParsedUrl

STATES = ("active", "idle", "idle in transaction", "idle in transaction (aborted)", "hidden")
IDLE_IN_TX = ("idle in transaction", "idle in transaction (aborted)")

# Neon's documented max_connections per compute size (connection-pooling docs); context only.
NEON_MAX_CONNECTIONS_BY_CU = {
    0.25: 104, 0.5: 209, 1: 419, 2: 839, 3: 1258, 4: 1678, 5: 2098, 6: 2517, 7: 2937, 8: 3357, 9: 4000,
}

# One statement per sample. clock_timestamp(), not now(): during --watch the same connection runs
# several samples and now() would be frozen at each transaction's start.
SAMPLE_SQL = """
WITH me AS (
  SELECT pg_backend_pid() AS pid,
         current_setting('is_superuser') = 'on' AS is_superuser,
         pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS read_all_stats
), raw AS (
  SELECT a.pid, a.datid, a.datname, a.usesysid, a.usename, a.application_name, a.backend_type,
         a.state, a.wait_event_type, a.wait_event,
         CASE WHEN a.backend_type IS NULL THEN '(hidden)'
              WHEN a.client_addr IS NULL THEN '(local socket)'
              ELSE host(a.client_addr) END AS client_addr,
         extract(epoch FROM clock_timestamp() - a.state_change)::float8 AS state_age_s,
         extract(epoch FROM clock_timestamp() - a.xact_start)::float8 AS xact_age_s
  FROM pg_stat_activity a
  WHERE a.pid <> (SELECT pid FROM me)
), act AS (
  -- Client backends. A hidden row (backend_type NULL) with a database and a user is counted as
  -- one: auxiliary processes have neither, and only privileged roles can tell the rest apart.
  SELECT r.*,
         CASE WHEN r.backend_type IS NULL THEN 'hidden' ELSE coalesce(r.state, 'starting') END AS st,
         coalesce(r.usename, '?') AS k_user, coalesce(r.datname, '?') AS k_db,
         coalesce(r.application_name, '') AS k_app
  FROM raw r
  WHERE r.backend_type = 'client backend'
     OR (r.backend_type IS NULL AND r.datid IS NOT NULL AND r.usesysid IS NOT NULL)
), grp AS (
  SELECT CASE WHEN grouping(k_app) = 0 THEN 'application' WHEN grouping(k_user) = 0 THEN 'user'
              WHEN grouping(client_addr) = 0 THEN 'client_addr' ELSE 'database' END AS dim,
         CASE WHEN grouping(k_app) = 0 THEN k_app WHEN grouping(k_user) = 0 THEN k_user
              WHEN grouping(client_addr) = 0 THEN client_addr ELSE k_db END AS key,
         count(*) AS connections,
         count(*) FILTER (WHERE st = 'active') AS active,
         count(*) FILTER (WHERE st = 'idle') AS idle,
         count(*) FILTER (WHERE st IN ('idle in transaction', 'idle in transaction (aborted)'))
           AS idle_in_transaction,
         count(*) FILTER (WHERE st = 'hidden') AS hidden,
         round(max(state_age_s) FILTER (WHERE st = 'idle')::numeric, 1) AS oldest_idle_s,
         round(max(state_age_s) FILTER (WHERE st IN ('idle in transaction',
           'idle in transaction (aborted)'))::numeric, 1) AS longest_idle_in_transaction_s,
         count(*) FILTER (WHERE st = 'idle' AND state_age_s > %(recycle)s) AS idle_over_recycle,
         count(*) FILTER (WHERE wait_event_type = 'Lock') AS waiting_on_lock
  FROM act
  GROUP BY GROUPING SETS ((k_app), (k_user), (client_addr), (k_db))
), detail AS (
  SELECT pid, usename, application_name, client_addr, datname, st AS state,
         round(state_age_s::numeric, 1) AS state_age_s, round(xact_age_s::numeric, 1) AS xact_age_s,
         wait_event_type, wait_event,
         CASE WHEN wait_event_type = 'Lock' THEN pg_blocking_pids(pid) END AS blocked_by
  FROM act
  WHERE st IN ('idle in transaction', 'idle in transaction (aborted)') OR wait_event_type = 'Lock'
  ORDER BY state_age_s DESC NULLS LAST
  LIMIT 50
)
SELECT json_build_object(
  'version', current_setting('server_version'),
  'version_num', current_setting('server_version_num')::int,
  'max_connections', current_setting('max_connections')::int,
  'superuser_reserved_connections', current_setting('superuser_reserved_connections')::int,
  'reserved_connections', current_setting('reserved_connections', true)::int,
  'idle_in_transaction_session_timeout_ms',
    (SELECT reset_val::bigint FROM pg_settings WHERE name = 'idle_in_transaction_session_timeout'),
  'idle_session_timeout_ms', (SELECT reset_val::bigint FROM pg_settings WHERE name = 'idle_session_timeout'),
  'self_pid', me.pid, 'is_superuser', me.is_superuser, 'read_all_stats', me.read_all_stats,
  'current_user', current_user, 'database', current_database(),
  'in_use', (SELECT count(*) FROM act),
  -- Autovacuum workers run as the bootstrap superuser (oid 10) with no application_name.
  'hidden_maybe_background', (SELECT count(*) FROM act WHERE st = 'hidden' AND usesysid = 10 AND k_app = ''),
  'by_state', (SELECT coalesce(json_object_agg(st, n), '{}'::json)
               FROM (SELECT st, count(*) AS n FROM act GROUP BY st) s),
  'groups', (SELECT coalesce(json_agg(grp ORDER BY dim, connections DESC, key), '[]'::json) FROM grp),
  'details', (SELECT coalesce(json_agg(detail), '[]'::json) FROM detail),
  'role_limits', (SELECT coalesce(json_agg(json_build_object('name', rolname, 'limit', rolconnlimit,
                                                            'connections', n)), '[]'::json)
                  FROM (SELECT r.rolname, r.rolconnlimit, count(a.pid) AS n
                        FROM pg_roles r LEFT JOIN act a ON a.usename = r.rolname
                        WHERE r.rolconnlimit >= 0
                        GROUP BY r.rolname, r.rolconnlimit
                        HAVING count(a.pid) > 0 OR r.rolname = current_user) rl),
  'database_limits', (SELECT coalesce(json_agg(json_build_object('name', datname, 'limit', datconnlimit,
                                                                'connections', n)), '[]'::json)
                      FROM (SELECT d.datname, d.datconnlimit, count(a.pid) AS n
                            FROM pg_database d LEFT JOIN act a ON a.datname = d.datname
                            WHERE d.datconnlimit >= 0
                            GROUP BY d.datname, d.datconnlimit
                            HAVING count(a.pid) > 0 OR d.datname = current_database()) dl)
) FROM me
"""

# -------------------------------------------------------------------------------- the snapshot


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


# -------------------------------------------------------------------------------- connecting


# One connect-error classifier and one Unreachable for every command: neondoctor.connect.
SlotsFull = connect.SlotsFull
Unreachable = connect.Unreachable
classify_connect_error = connect.unreachable


def slots_full_finding(err: SlotsFull, parsed: ParsedUrl) -> Finding:
    text = err.message.lower()
    if "too many connections for" in text:  # a per-role or per-database CONNECTION LIMIT
        kind = "role" if "too many connections for role" in text else "database"
        advice = [
            f"the {kind}'s CONNECTION LIMIT is reached, not the server's: find its idle sessions "
            "(`neondoctor pool-stats` as another role) or raise it: "
            f"ALTER {kind.upper()} <name> CONNECTION LIMIT <n>",
        ]
    else:
        advice = [
            "see who holds the slots: run `neondoctor pool-stats` as a superuser (or, on PostgreSQL 16+, "
            "a role granted pg_use_reserved_connections): they connect through the reserved slots",
            "end idle sessions of the app holding them: SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE state = 'idle' AND application_name = '<app>'",
        ]
    advice.append("shrink the app's pools: processes x (pool_size + max_overflow) must fit the available slots")
    if parsed.is_neon and not parsed.is_neon_pooler:
        advice.append("use the pooled endpoint: add -pooler after the endpoint ID in the host name")
    return Finding("slots-full", "critical",
                   f"the server refused a new connection because its slots are full: {err.message}. "
                   "Next: " + "; ".join(advice))


def unreachable_finding(err: Unreachable) -> Finding:
    return Finding("unreachable", "critical", f"could not connect: {err.message}")


@contextlib.contextmanager
def sampler(parsed: ParsedUrl, *, connect_timeout: int = connect.DEFAULT_CONNECT_TIMEOUT,
            statement_timeout_ms: int = connect.DEFAULT_STATEMENT_TIMEOUT_MS,
            recycle_s: float | None = None) -> Iterator[Callable[[], Snapshot]]:
    """Yield a function that takes one snapshot; all samples share neondoctor's ONE connection,
    in the URL's own driver, every call bounded by `connect_timeout` (connect.Session's watchdog)."""
    stack = contextlib.ExitStack()
    session = stack.enter_context(connect.read_only(parsed, connect_timeout=connect_timeout,
                                                    statement_timeout_ms=statement_timeout_ms))
    first = True

    def sample() -> Snapshot:
        nonlocal first
        try:
            if not first:
                # A fresh READ ONLY transaction per sample: pg_stat_activity is cached per transaction.
                session.begin_read_only(statement_timeout_ms=statement_timeout_ms)
            first = False
            doc = session.scalar(SAMPLE_SQL, {"recycle": recycle_s})
            # End the transaction now, so between --watch samples neondoctor is idle, not idle in transaction.
            session.rollback()
        except connect.Unreachable:
            raise
        except Exception as exc:
            raise Unreachable(f"the sample query failed: {connect.error_line(exc)}") from None
        if isinstance(doc, str):
            doc = json.loads(doc)
        return Snapshot.from_document(doc, recycle_s=recycle_s, parsed=parsed)

    with stack:  # closes the one connection, whatever happens while sampling
        yield sample


def take_snapshot(parsed: ParsedUrl, **options: Any) -> Snapshot:
    with sampler(parsed, **options) as sample:
        return sample()


def watch(parsed: ParsedUrl, *, samples: int, interval_s: float,
          on_sample: Callable[[Snapshot], None] | None = None, **options: Any) -> list[Snapshot]:
    """`samples` snapshots `interval_s` apart over one connection. Ctrl-C ends the series early."""
    taken: list[Snapshot] = []
    with sampler(parsed, **options) as sample:
        for i in range(samples):
            try:
                if i:
                    time.sleep(interval_s)
                snap = sample()
            except KeyboardInterrupt:
                if not taken:
                    raise
                break  # report what was collected: during an incident that is the point
            taken.append(snap)
            if on_sample:
                on_sample(snap)
    return taken


# -------------------------------------------------------------------------------- the app's pool


@dataclass(frozen=True)
class EnginePool:
    target: str
    pool_class: str
    size: int | None
    max_overflow: int | None
    checked_out: int | None
    overflow: int | None
    checked_in: int | None
    status: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_engine_pool(target: str, cwd: str | None = None) -> EnginePool:
    """Import MODULE:ATTR (cwd on sys.path) and read its SQLAlchemy engine's pool counters."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"--engine {target!r} must be MODULE:ATTR, e.g. myapp.db:engine")
    path = cwd or os.getcwd()
    if path not in sys.path:
        sys.path.insert(0, path)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the app's import can fail in any way; report it, never a traceback
        raise ConfigError(f"--engine: cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"--engine: {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    pool = getattr(obj, "pool", None)
    if pool is None or not hasattr(pool, "status"):
        raise ConfigError(f"--engine: {target} is not a SQLAlchemy Engine (no .pool)")

    def call(name: str) -> int | None:
        fn = getattr(pool, name, None)
        return int(fn()) if callable(fn) else None

    return EnginePool(
        target=target, pool_class=type(pool).__name__,
        size=call("size"), max_overflow=getattr(pool, "_max_overflow", None),
        checked_out=call("checkedout"), overflow=call("overflow"), checked_in=call("checkedin"),
        status=str(pool.status()),
    )


# -------------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Thresholds:
    warn_pct: float = 70.0
    critical_pct: float = 90.0
    idle_in_transaction_warn_s: float = 30.0

    def validate(self) -> None:
        if not 0 < self.warn_pct <= self.critical_pct <= 100:
            raise ConfigError("thresholds must satisfy 0 < --warn-pct <= --critical-pct <= 100")
        if self.idle_in_transaction_warn_s < 0:
            raise ConfigError("--idle-in-transaction-warn must be >= 0 seconds")


@dataclass(frozen=True)
class Sizing:
    processes: int
    pool_size: int
    max_overflow: int

    @property
    def demand(self) -> int:
        return self.processes * (self.pool_size + self.max_overflow)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _pct_severity(pct: float, t: Thresholds) -> str:
    return "critical" if pct >= t.critical_pct else "warn" if pct >= t.warn_pct else "ok"


def evaluate(snap: Snapshot, thresholds: Thresholds | None = None, *, sizing: Sizing | None = None,
             engine: EnginePool | None = None, app_name: str | None = None) -> list[Finding]:
    """Findings for one snapshot. Pure: no I/O."""
    t = thresholds or Thresholds()
    s = snap.server
    findings: list[Finding] = []
    reserved = f"{s.superuser_reserved_connections} superuser-reserved"
    if s.reserved_connections:
        reserved += f" + {s.reserved_connections} reserved_connections"
    findings.append(Finding(
        "slot-usage", _pct_severity(s.usage_pct, t),
        f"{s.in_use} of {s.available} slots for ordinary roles in use ({s.usage_pct}%), {s.free} free "
        f"(max_connections {s.max_connections} - {reserved}; neondoctor's own connection excluded)"))

    v = snap.visibility
    if v.hidden:
        maybe = (f"; {v.hidden_maybe_background} of them run as the bootstrap superuser without an "
                 "application_name and may be autovacuum workers" if v.hidden_maybe_background else "")
        findings.append(Finding(
            "hidden-sessions", "info",
            f"{_n(v.hidden, 'session')} of other roles hidden from {v.current_user!r} (no pg_read_all_stats/"
            "pg_monitor): counted as in use, but their state, client address and age are unknown"
            f"{maybe}. GRANT pg_monitor TO the role to see them"))

    iit = [x for x in snap.sessions if x.state in IDLE_IN_TX]
    if iit:
        oldest = max((x.state_age_s or 0.0) for x in iit)
        sev = "warn" if oldest >= t.idle_in_transaction_warn_s else "info"
        who = ", ".join(sorted({f"{x.application_name or '(no application_name)'} pid {x.pid}" for x in iit})[:5])
        timeout = snap.idle_in_transaction_session_timeout_ms
        hint = ("; idle_in_transaction_session_timeout is off" if not timeout
                else f"; the server ends them after {timeout / 1000:.0f}s")
        findings.append(Finding(
            "idle-in-transaction", sev,
            f"{_n(len(iit), 'session')} idle in transaction, longest {oldest:.1f}s ({who}){hint}: "
            "they hold their slot and locks; look for a transaction not committed or rolled back"))

    blocked = [x for x in snap.sessions if x.wait_event_type == "Lock"]
    if blocked:
        pairs = ", ".join(f"pid {x.pid} <- {x.blocked_by or '?'}" for x in blocked[:5])
        findings.append(Finding("blocked-sessions", "warn",
                                f"{_n(len(blocked), 'session')} waiting on a lock (blocked by): {pairs}"))

    if snap.recycle_s is not None:
        over = sum(g.idle_over_recycle for g in snap.by_application)
        if over:
            apps = ", ".join(f"{g.key or '(no application_name)'}={g.idle_over_recycle}"
                             for g in snap.by_application if g.idle_over_recycle)
            findings.append(Finding(
                "idle-over-recycle", "warn",
                f"{_n(over, 'session')} idle longer than --recycle {snap.recycle_s:g}s ({apps}): pool_recycle acts "
                "only at checkout, so these are surplus pooled connections or sessions never returned"))

    for kind, limits in (("role", snap.role_limits), ("database", snap.database_limits)):
        for lim in limits:
            pct = 100.0 * lim.connections / lim.limit if lim.limit > 0 else 100.0
            sev = _pct_severity(pct, t)
            if sev != "ok":
                findings.append(Finding(
                    f"{kind}-limit", sev,
                    f"{kind} {lim.name!r} uses {lim.connections} of its CONNECTION LIMIT {lim.limit}"))

    if sizing:
        findings.append(sizing_finding(snap, sizing, app_name=app_name))
    if engine:
        findings.append(engine_finding(engine))
    if snap.is_neon:
        findings.append(neon_context(snap))
    return sort_findings(findings)


def sizing_finding(snap: Snapshot, sizing: Sizing, *, app_name: str | None = None) -> Finding:
    """Worst case demand N x (pool_size + max_overflow) against the slots ordinary roles get."""
    s = snap.server
    demand = sizing.demand
    mine = 0
    if app_name:
        mine = sum(g.connections for g in snap.by_application if g.key == app_name)
    others = max(0, s.in_use - mine)
    room = s.available - others
    per = sizing.pool_size + sizing.max_overflow
    formula = (f"{sizing.processes} processes x (pool_size {sizing.pool_size} + max_overflow "
               f"{sizing.max_overflow}) = {demand}")
    if demand > s.available:
        sev, verdict = "critical", f"does not fit: {demand - s.available} over the {s.available} slots available"
    elif demand > room:
        sev, verdict = "warn", (f"fits the {s.available} slots only when nothing else is connected: "
                                f"{others} in use by others leaves {room}, {demand - room} short"
                                + ("" if app_name else " (--app-name excludes the app's own sessions)"))
    else:
        return Finding("pool-sizing", "ok",
                       f"{formula} fits: {room} slots left after {others} in use by others "
                       f"({room - demand} to spare)")
    fixes = []
    if room > 0:
        max_per = room // sizing.processes
        if max_per >= 1:
            fixes.append(f"pool_size + max_overflow <= {max_per} per process")
        if per and room // per >= 1:
            n = room // per
            fixes.append(f"at most {n} {'process' if n == 1 else 'processes'} at {per} each")
    if not snap.is_neon_pooler:
        fixes.append("on Neon, connect through the -pooler endpoint (PgBouncer, transaction mode)")
    return Finding("pool-sizing", sev, f"{formula} {verdict}. Next: " + "; ".join(fixes))


def engine_finding(pool: EnginePool) -> Finding:
    desc = (f"{pool.target}: {pool.pool_class} size {pool.size}, max_overflow {pool.max_overflow}, "
            f"checked out {pool.checked_out}, overflow {pool.overflow}, checked in {pool.checked_in}")
    if pool.max_overflow is not None and pool.max_overflow < 0:
        return Finding("engine-pool", "warn", desc + ": max_overflow=-1 puts no upper bound on connections "
                       "per process; set a finite max_overflow so the worst case can be sized")
    if pool.size is not None and pool.max_overflow is not None and pool.checked_out is not None \
            and pool.max_overflow >= 0 and pool.checked_out >= pool.size + pool.max_overflow:
        return Finding("engine-pool", "warn", desc + ": exhausted, the next checkout waits for pool_timeout")
    return Finding("engine-pool", "info", desc)


def neon_context(snap: Snapshot) -> Finding:
    s = snap.server
    cu = [str(k) for k, v in NEON_MAX_CONNECTIONS_BY_CU.items() if v == s.max_connections]
    size = f" (matches {'/'.join(cu)} CU)" if cu else ""
    pooler = ("via the -pooler endpoint: PgBouncer transaction mode, default_pool_size 0.9 x max_connections "
              "per user/database" if snap.is_neon_pooler
              else "direct endpoint: the -pooler endpoint multiplexes up to 10000 clients")
    return Finding("neon-context", "info",
                   f"Neon: max_connections {s.max_connections}{size}; docs say 4 or 7 superuser-reserved, "
                   f"live value {s.superuser_reserved_connections} is used; {pooler}")


# -------------------------------------------------------------------------------- leak heuristic


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


@dataclass(frozen=True)
class LeakRule:
    min_samples: int = 3
    min_climb: int = 3  # slots gained from the first sample to the last
    max_drops: float = 0.25  # share of steps allowed to go down (a pool returning a connection)
    active_fraction: float = 0.34  # active may grow by at most this share of the climb


def detect_leak(points: list[Point], rule: LeakRule | None = None) -> Finding | None:
    """Slot usage that climbs while active sessions stay flat: connections opened and never closed."""
    r = rule or LeakRule()
    if len(points) < r.min_samples:
        return None
    used = [p.in_use for p in points]
    active = [p.active for p in points]
    climb = used[-1] - used[0]
    if climb < r.min_climb:
        return None
    steps = list(pairwise(used))
    drops = sum(1 for a, b in steps if b < a)
    if drops > r.max_drops * len(steps):
        return None
    if max(active) - min(active) > max(1.0, r.active_fraction * climb):
        return None
    span = points[-1].t - points[0].t
    return Finding(
        "leak-suspected", "warn",
        f"slots in use climbed {used[0]} -> {used[-1]} (+{climb}) over {span:.1f}s while active sessions stayed "
        f"{min(active)}-{max(active)}: likely a session-lifecycle leak: look for sessions not closed with `with`. "
        f"Evidence in_use={used} active={active}")


def watch_findings(snaps: list[Snapshot], rule: LeakRule | None = None) -> list[Finding]:
    leak = detect_leak([Point.of(s) for s in snaps], rule)
    if leak is None:
        return []
    # Say which application grew, when the attribution is visible.
    first = {g.key: g.connections for g in snaps[0].by_application}
    growth = sorted(((g.connections - first.get(g.key, 0), g.key) for g in snaps[-1].by_application), reverse=True)
    grown = [f"{k or '(no application_name)'} +{d}" for d, k in growth if d > 0][:3]
    if grown:
        leak = Finding(leak.id, leak.severity, leak.message + f"; grew most: {', '.join(grown)}", leak.docs)
    return [leak]


@dataclass
class Report:
    """What the CLI renders: the last snapshot, the findings, and the series when watching."""

    snapshot: Snapshot | None
    findings: list[Finding]
    series: list[Point] = field(default_factory=list)
    engine: EnginePool | None = None
    sizing: Sizing | None = None
    connected: bool = True
    target: str = ""

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"target": self.target, "connected": self.connected}
        if self.snapshot:
            doc.update(self.snapshot.to_dict())
        else:
            doc.update({"server": None, "by_state": {}, "by_application": []})
        doc["findings"] = [f.to_dict() for f in self.findings]
        if self.sizing:
            doc["sizing"] = {**asdict(self.sizing), "demand": self.sizing.demand}
        if self.engine:
            doc["engine"] = self.engine.to_dict()
        if self.series:
            doc["watch"] = {"samples": [asdict(p) for p in self.series]}
        return doc
