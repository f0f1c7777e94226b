"""`pool-stats --check`: one verdict for monitoring systems that run a command (Nagios, Icinga, Sensu).

Its own exit table, the plugin convention check_postgres follows: 0 OK, 1 WARNING, 2 CRITICAL,
3 UNKNOWN (could not tell: unreachable server, bad configuration). Slots full is CRITICAL: the
refusal is the answer. Thresholds are percentages of the slots ordinary roles may use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from neondoctor.errors import NeondoctorError
from neondoctor.pool_stats.advice import Thresholds
from neondoctor.pool_stats.model import Snapshot
from neondoctor.pool_stats.sampling import SlotsFull

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATUS = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}


@dataclass(frozen=True)
class Perf:
    label: str
    value: float
    warn: float | None = None
    crit: float | None = None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class CheckResult:
    status: int
    summary: str
    perfdata: tuple[Perf, ...] = ()

    @property
    def name(self) -> str:
        return STATUS[self.status]


def check(snap: Snapshot, thresholds: Thresholds) -> CheckResult:
    s = snap.server
    warn = math.ceil(s.available * thresholds.warn_pct / 100)
    crit = math.ceil(s.available * thresholds.critical_pct / 100)
    status = CRITICAL if s.usage_pct >= thresholds.critical_pct else WARNING if s.usage_pct >= thresholds.warn_pct else OK
    summary = f"{s.in_use}/{s.available} slots ({s.usage_pct:.0f}%)"
    for kind, limits in (("role", snap.role_limits), ("database", snap.database_limits)):
        for lim in limits:
            pct = 100.0 * lim.connections / lim.limit if lim.limit > 0 else 100.0
            if pct >= thresholds.warn_pct:
                status = max(status, CRITICAL if pct >= thresholds.critical_pct else WARNING)
                summary += f", {kind} {lim.name} {lim.connections}/{lim.limit}"
    perf = (
        Perf("used", s.in_use, warn, crit, 0, s.available),
        Perf("active", snap.active, None, None, 0, s.available),
        Perf("idle", snap.by_state.get("idle", 0), None, None, 0, s.available),
        Perf("idle_in_transaction", snap.idle_in_transaction, None, None, 0, s.available),
        Perf("free", s.free, None, None, 0, s.available),
    )
    return CheckResult(status, summary, perf)


def check_error(err: NeondoctorError) -> CheckResult:
    if isinstance(err, SlotsFull):
        return CheckResult(CRITICAL, f"slots full: {err.message}")
    return CheckResult(UNKNOWN, err.message)
