"""Connection slots in use, by whom, against what the server allows; pool sizing; leaks; recordings.

Modules by responsibility: `sql` (the one sample statement), `model` (a sample as data), `sampling`
(the one connection), `advice` (findings for a snapshot), `leak` (the heuristic over a series),
`engine_pool` (the app's own pool), `result` (what the snapshot command renders), `store`/`record`
(a recording on disk), `pooler` (PgBouncer waiting), `evidence`/`sizing` (a recording turned into
advice), `check` (Nagios) and `exporter` (Prometheus). This facade re-exports the snapshot API;
nothing here imports a driver.
"""

from neondoctor.pool_stats.advice import (
    NEON_MAX_CONNECTIONS_BY_CU,
    Sizing,
    Thresholds,
    evaluate,
    neon_context,
    sizing_finding,
    slots_full_finding,
    unreachable_finding,
)
from neondoctor.pool_stats.engine_pool import EnginePool, engine_finding, load_engine_pool
from neondoctor.pool_stats.leak import LeakRule, detect_leak, watch_findings
from neondoctor.pool_stats.model import (
    IDLE_IN_TX,
    STATES,
    GroupStats,
    Limit,
    Point,
    ServerLimits,
    Session,
    Snapshot,
    Visibility,
)
from neondoctor.pool_stats.result import Report
from neondoctor.pool_stats.sampling import (
    SLOTS_FULL_MARKERS,
    SlotsFull,
    Unreachable,
    classify_connect_error,
    sampler,
    take_snapshot,
    watch,
)
from neondoctor.pool_stats.sql import SAMPLE_SQL

__all__ = [
    "IDLE_IN_TX", "NEON_MAX_CONNECTIONS_BY_CU", "SAMPLE_SQL", "SLOTS_FULL_MARKERS", "STATES", "EnginePool",
    "GroupStats", "LeakRule", "Limit", "Point", "Report", "ServerLimits", "Session", "Sizing", "SlotsFull",
    "Snapshot", "Thresholds", "Unreachable", "Visibility", "classify_connect_error", "detect_leak", "engine_finding",
    "evaluate", "load_engine_pool", "neon_context", "sampler", "sizing_finding", "slots_full_finding",
    "take_snapshot", "unreachable_finding", "watch", "watch_findings",
]
