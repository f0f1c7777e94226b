"""Recommended pool_size / max_overflow per process, from a recording's evidence.

The rules, in the order they apply (the lesson neondoctor comes from):
1. Leaks first: an application with a leak episode keeps the small start (3 + 5). Its growth is a
   lifecycle bug, not load, and a bigger pool only delays the same exhaustion.
2. Start small: pool_size 3, max_overflow 5 per process.
3. Grow only under observed pressure, from what was checked out (active + idle in transaction, i.e.
   busy), spread over the processes: pool_size grows to cover the busy p95, max_overflow to cover
   the busy peak. Idle pooled connections are not pressure.
4. Never beyond the slots: all processes together, at their worst case (pool_size + max_overflow),
   must fit what ordinary roles may use minus the most everybody else held at one moment. Overflow
   is cut first, then pool_size; when even one connection per process does not fit, say so.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from neondoctor.errors import EXIT_FINDINGS, EXIT_OK
from neondoctor.pool_stats.evidence import Evidence, Usage

START_POOL_SIZE = 3
START_MAX_OVERFLOW = 5


@dataclass(frozen=True)
class Recommendation:
    application: str
    processes: int
    pool_size: int
    max_overflow: int
    budget: int  # slots left for this application at everybody else's peak
    fits: bool
    reasons: tuple[str, ...]

    @property
    def worst_case(self) -> int:
        return self.processes * (self.pool_size + self.max_overflow)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reasons": list(self.reasons), "worst_case": self.worst_case}


def recommend(usage: Usage, *, processes: int, available: int, others_peak: int, leaking: bool) -> Recommendation:
    budget = max(0, available - others_peak)
    per_process = budget // processes
    reasons: list[str] = []
    pool_size, max_overflow = START_POOL_SIZE, START_MAX_OVERFLOW
    per_p95 = math.ceil(usage.busy_p95 / processes)
    per_peak = math.ceil(usage.busy_peak / processes)
    if leaking:
        reasons.append("leak first: slot usage climbed while active stayed flat; fix the session lifecycle "
                       "(close every session, `with Session() as s:`) before growing the pool")
    else:
        if per_p95 > pool_size:
            pool_size = per_p95
            reasons.append(f"busy p95 {usage.busy_p95} over {processes} process(es) is {per_p95} per process: "
                           f"pool_size grows to {pool_size}")
        if per_peak > pool_size + max_overflow:
            max_overflow = per_peak - pool_size
            reasons.append(f"busy peak {usage.busy_peak} needs {per_peak} per process: max_overflow grows to "
                           f"{max_overflow}")
        if not reasons:
            reasons.append(f"no pressure observed (busy peak {usage.busy_peak}, p95 {usage.busy_p95} over "
                           f"{processes} process(es)): keep the small start")
    fits = True
    if pool_size + max_overflow > per_process:
        if per_process < 1:
            fits = False
            pool_size, max_overflow = 1, 0
            reasons.append(f"does not fit: {budget} slots left at the others' peak for {processes} process(es); "
                           "use fewer processes or a pooler (on Neon the -pooler endpoint)")
        else:
            max_overflow = max(0, per_process - pool_size)
            pool_size = min(pool_size, per_process)
            reasons.append(f"capped by the slots: {budget} left at the others' peak / {processes} process(es) = "
                           f"{per_process} per process")
    return Recommendation(usage.name, processes, pool_size, max_overflow, budget, fits, tuple(reasons))


def recommendations(evidence: Evidence, processes: int) -> list[Recommendation]:
    leaking = {e.application for e in evidence.episodes}
    return [recommend(u, processes=processes, available=evidence.available,
                      others_peak=evidence.others_peak.get(u.name, 0), leaking=u.name in leaking)
            for u in evidence.applications if u.name != "neondoctor"]


@dataclass(frozen=True)
class PoolAdvice:
    """What `pool-stats report` says: a recording's evidence and the pool settings it supports."""

    evidence: Evidence
    recommendations: list[Recommendation]

    @property
    def exit_code(self) -> int:
        """1 on a leak episode, a pool that cannot fit, or a moment the slots were full; else 0."""
        ev = self.evidence
        bad = (bool(ev.episodes) or any(not r.fits for r in self.recommendations)
               or any(g.kind == "full" for g in ev.gaps))
        return EXIT_FINDINGS if bad else EXIT_OK


def advise(evidence: Evidence, processes: int) -> PoolAdvice:
    return PoolAdvice(evidence, recommendations(evidence, processes))
