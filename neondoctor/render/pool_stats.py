"""Pure renderers for `pool-stats`: Report -> text, Report -> JSON, series -> sparkline. No SQL here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from neondoctor.pool_stats.model import GroupStats, Point, Snapshot
from neondoctor.pool_stats.result import Report

BARS = "▁▂▃▄▅▆▇█"
MARKS = {"ok": "ok  ", "info": "info", "warn": "WARN", "critical": "CRIT"}
MAX_ROWS = 8  # per attribution table: compact during an incident


def sparkline(values: Sequence[float], *, lo: float | None = None, hi: float | None = None) -> str:
    """One character per value; a shared lo/hi lets two series be compared on one scale."""
    if not values:
        return ""
    lo = min(values) if lo is None else lo
    hi = max(values) if hi is None else hi
    if hi <= lo:
        return BARS[0] * len(values)
    scale = (len(BARS) - 1) / (hi - lo)
    return "".join(BARS[max(0, min(len(BARS) - 1, round((v - lo) * scale)))] for v in values)


def chart(points: Sequence[Point], width: int = 60) -> list[str]:
    """The watch series as labelled sparklines on one scale (0..max in use)."""
    pts = list(points)[-width:]
    if not pts:
        return []
    hi = max(max(p.in_use for p in pts), 1)
    rows = [("in use", [p.in_use for p in pts]), ("active", [p.active for p in pts]),
            ("idle", [p.idle for p in pts]), ("idle in tx", [p.idle_in_transaction for p in pts])]
    return [f"  {label:<10} {sparkline(vals, lo=0, hi=hi)}  {vals[0]} -> {vals[-1]} (max {max(vals)})"
            for label, vals in rows]


def _age(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 3600:
        return f"{value / 3600:.1f}h"
    if value >= 60:
        return f"{value / 60:.1f}m"
    return f"{value:.1f}s"


def _table(title: str, groups: list[GroupStats], recycle: bool) -> list[str]:
    if not groups:
        return []
    head = f"{title:<28} {'conns':>5} {'active':>6} {'idle':>5} {'in-tx':>5} {'hidden':>6} {'oldest idle':>11} {'longest in-tx':>13}"
    if recycle:
        head += f" {'>recycle':>8}"
    lines = [head]
    for g in groups[:MAX_ROWS]:
        name = g.key if g.key else "(none)"
        if len(name) > 27:
            name = name[:26] + "…"
        row = (f"  {name:<26} {g.connections:>5} {g.active:>6} {g.idle:>5} {g.idle_in_transaction:>5} "
               f"{g.hidden:>6} {_age(g.oldest_idle_s):>11} {_age(g.longest_idle_in_transaction_s):>13}")
        if recycle:
            row += f" {g.idle_over_recycle:>8}"
        lines.append(row)
    if len(groups) > MAX_ROWS:
        lines.append(f"  … {len(groups) - MAX_ROWS} more (--json for all)")
    return lines


def _snapshot_lines(snap: Snapshot) -> list[str]:
    s, v = snap.server, snap.visibility
    reserved = f"{s.max_connections} max - {s.superuser_reserved_connections} superuser-reserved"
    if s.reserved_connections is not None:
        reserved += f" - {s.reserved_connections} reserved_connections"
    lines = [
        f"slots     {s.in_use}/{s.available} in use ({s.usage_pct}%), {s.free} free   [{reserved}]",
        f"          own connection (pid {v.self_pid}) excluded; background workers not counted",
        "states    " + "  ".join(f"{k} {n}" for k, n in snap.by_state.items() if n or k != "hidden"),
    ]
    if v.full:
        lines.append(f"visibility full ({'superuser' if v.is_superuser else 'pg_read_all_stats'})")
    elif not v.hidden:
        lines.append(f"visibility partial: {v.current_user!r} lacks pg_read_all_stats; no other role's session "
                     "was seen")
    else:
        lines.append(f"visibility partial: {v.hidden} sessions of other roles hidden from {v.current_user!r} "
                     "(grant pg_monitor to see them)")
    recycle = snap.recycle_s is not None
    for title, groups in (("by application_name", snap.by_application), ("by user", snap.by_user),
                          ("by client address", snap.by_client_addr)):
        lines += _table(title, groups, recycle)
    if snap.sessions:
        lines.append("sessions  idle in transaction / waiting on a lock:")
        for x in snap.sessions[:10]:
            extra = f" blocked by {x.blocked_by}" if x.blocked_by else ""
            lines.append(f"  pid {x.pid:<7} {x.application_name or '(none)'} {x.usename}@{x.client_addr} "
                         f"{x.state} {_age(x.state_age_s)} (xact {_age(x.xact_age_s)}) "
                         f"{x.wait_event_type or ''}:{x.wait_event or ''}{extra}")
    for kind, limits in (("role", snap.role_limits), ("database", snap.database_limits)):
        for lim in limits:
            lines.append(f"limit     {kind} {lim.name}: {lim.connections}/{lim.limit} (CONNECTION LIMIT)")
    return lines


def to_text(report: Report, *, colour: bool = False) -> str:
    lines: list[str] = []
    snap = report.snapshot
    header = f"pool-stats  {report.target}"
    if snap:
        header += f"  PostgreSQL {snap.server.version.split()[0]}"
    lines.append(header)
    if snap:
        lines += _snapshot_lines(snap)
    if report.sizing:
        z = report.sizing
        lines.append(f"sizing    {z.processes} x ({z.pool_size} + {z.max_overflow}) = {z.demand} worst case")
    if report.engine:
        e = report.engine
        lines.append(f"engine    {e.target}: {e.pool_class} size {e.size} checked out {e.checked_out} "
                     f"overflow {e.overflow} checked in {e.checked_in}")
    if report.series:
        span = report.series[-1].t - report.series[0].t
        lines.append(f"watch     {len(report.series)} samples over {span:.1f}s")
        lines += chart(report.series)
    lines.append("findings")
    for f in report.findings:
        # "Next: a; b; c" becomes one step per line: easier to follow during an incident.
        head, sep, steps = f.message.partition(". Next: ")
        lines.append(f"  {MARKS[f.severity]} {f.id}: {head}{'.' if sep else ''}")
        if sep:
            lines += [f"       next: {step}" for step in steps.split("; ")]
    return "\n".join(lines)


def to_json(report: Report) -> dict[str, Any]:
    return report.to_dict()


def report_line_json(report: Report) -> dict[str, Any]:
    """The last line of a --watch --json stream: the report, marked as such."""
    return {"kind": "report", **report.to_dict()}


def sample_json(snap: Snapshot) -> dict[str, Any]:
    """One JSON line per --watch --json sample, printed as it arrives (pipeable: jq, a log shipper)."""
    return {"kind": "sample", **snap.to_dict()}


def sample_text(snap: Snapshot, *, colour: bool = False) -> str:
    """One line per --watch sample, printed as it arrives."""
    s = snap.server
    return (f"sample    in use {s.in_use}/{s.available} ({s.usage_pct}%)  active {snap.active}  "
            f"idle {snap.by_state.get('idle', 0)}  idle in tx {snap.idle_in_transaction}  "
            f"hidden {snap.visibility.hidden}")
