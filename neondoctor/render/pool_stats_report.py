"""Pure renderers for `pool-stats report` (text, JSON) and `pool-stats record` progress. No SQL here."""

from __future__ import annotations

import time
from typing import Any

from neondoctor.pool_stats.evidence import Usage
from neondoctor.pool_stats.sizing import PoolAdvice


def when(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 10)}Z"


def span(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    if seconds >= 60:
        return f"{seconds / 60:.1f}m"
    return f"{seconds:.1f}s"


def _usage_rows(title: str, rows: list[Usage], limit: int = 12) -> list[str]:
    if not rows:
        return []
    out = [f"{title:<28} {'peak':>5} {'p95':>4} {'p99':>4} {'busy peak':>9} {'busy p95':>8}  peak at"]
    for u in rows[:limit]:
        name = u.name if len(u.name) <= 27 else u.name[:26] + "…"
        out.append(f"  {name:<26} {u.peak:>5} {u.p95:>4} {u.p99:>4} {u.busy_peak:>9} {u.busy_p95:>8}  {when(u.peak_at)}")
    if len(rows) > limit:
        out.append(f"  … {len(rows) - limit} more (--json for all)")
    return out


def to_text(advice: PoolAdvice, *, colour: bool = False) -> str:
    ev, recs = advice.evidence, advice.recommendations
    lines = [f"pool-stats report  {ev.target}"]
    if not ev.samples:
        lines.append("no samples in this recording yet")
    else:
        assert ev.first is not None and ev.last is not None and ev.total is not None
        lines.append(f"recorded  {ev.samples} samples every {ev.interval_s:g}s, {when(ev.first)} .. {when(ev.last)} "
                     f"({span(ev.last - ev.first)})")
        t = ev.total
        lines.append(f"slots     {ev.available} available to ordinary roles (max_connections {ev.max_connections} "
                     f"minus reserved); all sessions: peak {t.peak} at {when(t.peak_at)}, p95 {t.p95}, p99 {t.p99}")
        lines.append(f"headroom  {ev.headroom} slots at the peak, {ev.available - t.p99} at p99")
        if ev.pooler_waiting_peak is not None:
            lines.append(f"pooler    at most {ev.pooler_waiting_peak} clients waiting in PgBouncer")
        if ev.idle_in_transaction_max_age_s is not None:
            lines.append(f"idle in transaction: longest seen {span(ev.idle_in_transaction_max_age_s)}")
    lines += _usage_rows("by application_name", ev.applications)
    lines += _usage_rows("by user", ev.users)
    if ev.gaps:
        lines.append("gaps      (no samples)")
        for g in ev.gaps[:20]:
            lines.append(f"  {when(g.start)} .. {when(g.end)} ({span(g.end - g.start)}) {g.kind}: {g.reason}")
    if ev.episodes:
        lines.append("leaks     slot usage climbing while active stayed flat")
        for e in ev.episodes[:20]:
            what = (f"idle in transaction {e.idle_in_transaction_from} -> {e.idle_in_transaction_to}"
                    if e.kind == "idle-in-transaction" else f"idle sessions held {e.held_from} -> {e.held_to}")
            lines.append(f"  WARN {e.application}: {when(e.start)} .. {when(e.end)} ({span(e.end - e.start)}) "
                         f"{what}, active {e.active_range[0]}-{e.active_range[1]}")
    else:
        lines.append("leaks     none seen")
    if recs:
        lines.append(f"advice    per process, for {recs[0].processes} process(es) of each application")
        for r in recs:
            mark = "ok  " if r.fits and len(r.reasons) == 1 and "no pressure" in r.reasons[0] else (
                "CRIT" if not r.fits else "info")
            if any(x.startswith("leak first") for x in r.reasons):
                mark = "WARN"
            lines.append(f"  {mark} {r.application}: pool_size={r.pool_size} max_overflow={r.max_overflow} "
                         f"(worst case {r.worst_case} of {r.budget} slots left for it)")
            lines += [f"       why: {reason}" for reason in r.reasons]
    return "\n".join(lines)


def to_json(advice: PoolAdvice) -> dict[str, Any]:
    return {**advice.evidence.to_dict(), "recommendations": [r.to_dict() for r in advice.recommendations]}
