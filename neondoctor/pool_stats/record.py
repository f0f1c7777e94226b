"""`pool-stats record`: sample the server every few seconds into a recording, for as long as asked.

The loop, in order of what matters:
1. Each sample is the same ONE read-only statement over ONE connection as a snapshot, written and
   committed at once (`store.Store`): memory stays flat, a crash loses at most one sample.
2. The server going away is evidence, not an end: the failure opens a gap row (with the redacted
   reason; "slots full" is itself a finding), retried every interval, closed by the next sample.
3. Ctrl-C (or SIGTERM turned into it by the CLI) writes a `stop` row and closes the file cleanly.
4. Neon's scale to zero: a compute suspends after 5 minutes without a running query, so a sample
   every S < 300 s keeps it awake (and billed) for the whole recording. With `respect_suspend`,
   a sample that shows no other session busy (no active or idle-in-transaction session) pauses
   sampling for `quiet_pause_s` with the connection closed, so a quiet compute can suspend; the
   next sample wakes it briefly. The pause is recorded, so the report does not mistake it for load.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from neondoctor.errors import NeondoctorError
from neondoctor.pool_stats.model import Snapshot
from neondoctor.pool_stats.pooler import PoolerWatch
from neondoctor.pool_stats.sampling import Sampler, SlotsFull
from neondoctor.pool_stats.store import Store, sample_row
from neondoctor.url import ParsedUrl

DEFAULT_INTERVAL_S = 15.0
DEFAULT_QUIET_PAUSE_S = 900.0


@dataclass
class RecordSummary:
    path: str
    samples: int = 0
    gaps: int = 0
    pauses: int = 0
    resumed: bool = False
    stopped_by: str = "duration"  # duration | interrupt
    last: Snapshot | None = None


def quiet(snap: Snapshot) -> bool:
    """Nothing but neondoctor would keep a Neon compute awake right now."""
    return snap.active == 0 and snap.idle_in_transaction == 0


def record(parsed: ParsedUrl, store: Store, *, interval_s: float = DEFAULT_INTERVAL_S,
           duration_s: float | None = None, respect_suspend: bool = False,
           quiet_pause_s: float = DEFAULT_QUIET_PAUSE_S, pooler: PoolerWatch | None = None,
           on_sample: Callable[[Snapshot], None] | None = None,
           on_gap: Callable[[NeondoctorError], None] | None = None,
           clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
           **options: Any) -> RecordSummary:
    """Sample until `duration_s` has passed (forever if None) or Ctrl-C; every row is committed."""
    summary = RecordSummary(path=str(store.path), resumed=store.resumed)
    sampler = Sampler(parsed, **options)
    started = clock()
    store.event("start", started, f"interval {interval_s:g}s")
    due = started
    try:
        while duration_s is None or clock() - started < duration_s:
            wait = due - clock()
            if wait > 0:
                if duration_s is not None:
                    wait = min(wait, started + duration_s - clock())
                sleep(max(0.0, wait))
                continue
            due += interval_s
            if due < clock():  # fell behind (a slow connect): skip the missed slots, never burst
                due = clock() + interval_s
            try:
                snap = sampler.sample()
            except NeondoctorError as err:
                opened = store.gap(clock(), err.message, "full" if isinstance(err, SlotsFull) else "gap")
                if on_gap and opened:  # once per outage, not once per retry
                    on_gap(err)
                continue
            store.add(sample_row(snap, pooler.waiting() if pooler else None))
            summary.samples += 1
            summary.last = snap
            if on_sample:
                on_sample(snap)
            if respect_suspend and quiet(snap):
                sampler.close()
                if pooler:
                    pooler.close()
                now = clock()
                store.event("pause", now, "quiet: letting the compute scale to zero", t_end=now + quiet_pause_s)
                summary.pauses += 1
                due = now + quiet_pause_s
    except KeyboardInterrupt:
        summary.stopped_by = "interrupt"
    finally:
        sampler.close()
        if pooler:
            pooler.close()
        with contextlib.suppress(Exception):
            store.event("stop", clock(), summary.stopped_by)
    summary.gaps = store.count("gap") + store.count("full")
    return summary
