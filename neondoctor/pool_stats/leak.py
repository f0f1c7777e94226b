"""The leak heuristic over a series of samples: slot usage climbing while active sessions stay flat."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from neondoctor.findings import Finding
from neondoctor.pool_stats.model import Point, Snapshot


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


