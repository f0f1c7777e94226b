"""A recording turned into evidence: peaks and percentiles per application/user, headroom, gaps, leaks.

Pure over the rows of `store.read_rows`. Percentiles are nearest-rank over the samples (each sample
is one moment; the interval is constant, so a share of samples is a share of the time recorded).

Leak episodes, per application and per stretch without a gap: "held" = connections - active (idle
or idle in transaction: slots taken by sessions doing nothing). An episode is a run where held
climbs by at least `min_climb` over at least three samples, never dropping more than one below its
running maximum, while active stays flat (moves by at most max(1, a third of the climb)). That is
the lesson's "slot usage climbing during low traffic is a lifecycle bug, not load"; when idle in
transaction climbs with it the episode says so (a transaction never committed or rolled back).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from neondoctor.pool_stats.store import Row

NO_NAME = "(no application_name)"


def percentile(values: list[int], pct: float) -> int:
    """Nearest-rank percentile: the smallest value with at least pct% of the samples at or below it."""
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


@dataclass(frozen=True)
class Usage:
    name: str
    peak: int  # concurrent connections (every state)
    peak_at: float
    p95: int
    p99: int
    busy_peak: int  # active + idle in transaction: checked out of the app's pool
    busy_p95: int
    busy_p99: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Episode:
    application: str
    kind: str  # idle-in-transaction | held-climbing
    start: float
    end: float
    held_from: int
    held_to: int
    idle_in_transaction_from: int
    idle_in_transaction_to: int
    active_range: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Gap:
    start: float
    end: float
    reason: str
    kind: str = "gap"  # gap (server not sampled) | full (slots full) | pause (scale to zero) | recorder (not running)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Series:
    """Aligned per-sample series for charts; None marks a break (gap) between stretches."""

    t: list[float | None] = field(default_factory=list)
    in_use: list[int | None] = field(default_factory=list)
    available: list[int | None] = field(default_factory=list)
    apps: dict[str, dict[str, list[int | None]]] = field(default_factory=dict)


@dataclass
class Evidence:
    target: str
    interval_s: float
    samples: int
    first: float | None
    last: float | None
    max_connections: int
    available: int  # the smallest seen: sizing must fit the tightest moment
    total: Usage | None
    applications: list[Usage]
    users: list[Usage]
    gaps: list[Gap]
    episodes: list[Episode]
    others_peak: dict[str, int]  # per application: the most slots everybody else held at one moment
    pooler_waiting_peak: int | None
    idle_in_transaction_max_age_s: float | None
    series: Series

    @property
    def headroom(self) -> int | None:
        return None if self.total is None else self.available - self.total.peak

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "interval_s": self.interval_s, "samples": self.samples,
            "first": self.first, "last": self.last, "max_connections": self.max_connections,
            "available": self.available, "headroom": self.headroom,
            "headroom_p99": None if self.total is None else self.available - self.total.p99,
            "total": self.total.to_dict() if self.total else None,
            "by_application": [u.to_dict() for u in self.applications],
            "by_user": [u.to_dict() for u in self.users],
            "gaps": [g.to_dict() for g in self.gaps],
            "leak_episodes": [e.to_dict() for e in self.episodes],
            "pooler_waiting_peak": self.pooler_waiting_peak,
            "idle_in_transaction_max_age_s": self.idle_in_transaction_max_age_s,
        }


def _usage(name: str, t: list[float], conns: list[int], busy: list[int]) -> Usage:
    peak = max(conns)
    return Usage(name, peak, t[conns.index(peak)], percentile(conns, 95), percentile(conns, 99),
                 max(busy), percentile(busy, 95), percentile(busy, 99))


def _episodes(app: str, t: list[float], held: list[int], active: list[int], iit: list[int],
              min_climb: int) -> list[Episode]:
    found: list[Episode] = []

    def close(s: int, top: int) -> None:
        climb = held[top] - held[s]
        if climb < min_climb or top - s < 2:
            return
        window = active[s:top + 1]
        if max(window) - min(window) > max(1.0, climb / 3):
            return
        kind = "idle-in-transaction" if iit[top] - iit[s] >= min_climb else "held-climbing"
        found.append(Episode(app, kind, t[s], t[top], held[s], held[top], iit[s], iit[top],
                             (min(window), max(window))))

    s = top = 0
    for j in range(1, len(held)):
        if held[j] > held[top]:
            top = j
        elif held[j] < held[top] - 1:  # the run is broken: sessions were given back
            close(s, top)
            s = top = j
        if top == s and held[j] <= held[s]:  # not climbing yet: start from the latest lowest point
            s = top = j
    if held:
        close(s, top)
    return found


def build(rows: Iterable[Row], *, target: str, interval_s: float, min_climb: int = 3) -> Evidence:
    times: list[float] = []
    segment: list[int] = []  # stretch number of each sample
    in_use: list[int] = []
    avail: list[int] = []
    busy_total: list[int] = []
    apps: dict[str, dict[int, tuple[int, int, int]]] = {}  # app -> sample index -> (conns, active, iit)
    users: dict[str, dict[int, tuple[int, int]]] = {}
    gaps: list[Gap] = []
    pooler: list[int] = []
    ages: list[float] = []
    max_conn = 0
    stretch = 0
    hole = max(3 * interval_s, interval_s + 1.0)
    closed = True  # the previous recorder wrote its `stop` row
    open_gap: int | None = None  # index of the gap waiting for the next sample to end it
    for row in rows:
        if row.kind == "start":
            if not closed and times:
                gaps.append(Gap(times[-1], row.t, "the recorder ended without closing the file (killed?)",
                                "recorder"))
                stretch += 1
            closed = False
            continue
        if row.kind == "stop":
            closed = True
            continue
        if row.kind in ("gap", "full", "pause"):
            # Shown from the last sample before it to the first sample after it: the time without data.
            gaps.append(Gap(times[-1] if times else row.t, row.t_end or row.t, row.note or "", row.kind))
            open_gap = len(gaps) - 1
            stretch += 1
            continue
        if row.kind != "sample":
            continue
        if open_gap is not None:
            g = gaps[open_gap]
            gaps[open_gap] = Gap(g.start, row.t, g.reason, g.kind)
            open_gap = None
        if times and row.t - times[-1] > hole:
            covered = any(g.end >= times[-1] for g in gaps)
            if not covered:
                gaps.append(Gap(times[-1], row.t, "no samples: the recorder was not running", "recorder"))
            stretch += 1
        i = len(times)
        times.append(row.t)
        segment.append(stretch)
        in_use.append(row.in_use)
        avail.append(row.available)
        busy_total.append(row.active + row.idle_in_transaction)
        max_conn = row.max_connections
        if row.pooler_waiting is not None:
            pooler.append(row.pooler_waiting)
        if row.idle_in_transaction_max_age_s is not None:
            ages.append(row.idle_in_transaction_max_age_s)
        for name, vals in ((row.groups or {}).get("a") or {}).items():
            apps.setdefault(name or NO_NAME, {})[i] = (int(vals[0]), int(vals[1]), int(vals[3]))
        for name, vals in ((row.groups or {}).get("u") or {}).items():
            users.setdefault(name, {})[i] = (int(vals[0]), int(vals[1]) + int(vals[3]))

    n = len(times)
    series = Series()
    app_usage: list[Usage] = []
    episodes: list[Episode] = []
    others_peak: dict[str, int] = {}
    for name in sorted(apps):
        got = apps[name]
        conns = [got.get(i, (0, 0, 0))[0] for i in range(n)]
        active = [got.get(i, (0, 0, 0))[1] for i in range(n)]
        iit = [got.get(i, (0, 0, 0))[2] for i in range(n)]
        app_usage.append(_usage(name, times, conns, [a + b for a, b in zip(active, iit, strict=True)]))
        others_peak[name] = max(u - c for u, c in zip(in_use, conns, strict=True))
        for seg in sorted(set(segment)):
            idx = [i for i in range(n) if segment[i] == seg]
            episodes += _episodes(name, [times[i] for i in idx], [conns[i] - active[i] for i in idx],
                                  [active[i] for i in idx], [iit[i] for i in idx], min_climb)
        series.apps[name] = {"connections": _broken(conns, segment), "busy": _broken(
            [a + b for a, b in zip(active, iit, strict=True)], segment), "idle_in_transaction": _broken(iit, segment)}
    series.t = _broken(times, segment)
    series.in_use = _broken(in_use, segment)
    series.available = _broken(avail, segment)
    user_usage = [_usage(name, times, [users[name].get(i, (0, 0))[0] for i in range(n)],
                         [users[name].get(i, (0, 0))[1] for i in range(n)]) for name in sorted(users)]
    key = lambda u: (-u.peak, u.name)  # noqa: E731
    return Evidence(
        target=target, interval_s=interval_s, samples=n, first=times[0] if times else None,
        last=times[-1] if times else None, max_connections=max_conn, available=min(avail) if avail else 0,
        total=_usage("(all)", times, in_use, busy_total) if n else None,
        applications=sorted(app_usage, key=key), users=sorted(user_usage, key=key),
        gaps=gaps, episodes=sorted(episodes, key=lambda e: (e.start, e.application)), others_peak=others_peak,
        pooler_waiting_peak=max(pooler) if pooler else None,
        idle_in_transaction_max_age_s=max(ages) if ages else None, series=series,
    )


def _broken(values: list[Any], segment: list[int]) -> list[Any]:
    """The values with a None between stretches, so a chart draws a break over a gap."""
    out: list[Any] = []
    for i, v in enumerate(values):
        if i and segment[i] != segment[i - 1]:
            out.append(None)
        out.append(v)
    return out
