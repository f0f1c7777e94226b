"""What the `pool-stats` snapshot/watch command renders: the last snapshot, findings, the series."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from neondoctor.errors import EXIT_FINDINGS, EXIT_OK, EXIT_UNREACHABLE
from neondoctor.findings import Finding, worst
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

    @property
    def exit_code(self) -> int:
        """4 when the server could not be sampled (or went away mid-watch), 1 on a warn or critical finding."""
        if not self.connected:
            return EXIT_UNREACHABLE
        return EXIT_FINDINGS if worst(self.findings) in ("warn", "critical") else EXIT_OK

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
