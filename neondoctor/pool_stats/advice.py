"""Findings for one snapshot: slot usage, idle in transaction, locks, limits, pool sizing, Neon context."""

from __future__ import annotations

from dataclasses import dataclass

from neondoctor.errors import ConfigError
from neondoctor.findings import Finding, sort_findings
from neondoctor.pool_stats.engine_pool import EnginePool, engine_finding
from neondoctor.pool_stats.model import IDLE_IN_TX, Snapshot
from neondoctor.pool_stats.sampling import SlotsFull, Unreachable
from neondoctor.url import ParsedUrl

# Neon's documented max_connections per compute size (connection-pooling docs); context only.
NEON_MAX_CONNECTIONS_BY_CU = {
    0.25: 104, 0.5: 209, 1: 419, 2: 839, 3: 1258, 4: 1678, 5: 2098, 6: 2517, 7: 2937, 8: 3357, 9: 4000,
}



@dataclass(frozen=True)
class Thresholds:
    warn_pct: float = 70.0
    critical_pct: float = 90.0
    idle_in_transaction_warn_s: float = 30.0

    def validate(self) -> None:
        if not 0 <= self.warn_pct <= self.critical_pct <= 100:
            raise ConfigError("thresholds must satisfy 0 <= --warn-pct <= --critical-pct <= 100")
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

