"""What the `pool-stats` snapshot/watch command renders: the last snapshot, findings, the series."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from neondoctor.findings import Finding
from neondoctor.pool_stats.advice import Sizing
from neondoctor.pool_stats.engine_pool import EnginePool
from neondoctor.pool_stats.model import Point, Snapshot


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
