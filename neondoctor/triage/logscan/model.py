"""What a log scan reports: incidents grouped by runbook."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Incident:
    runbook: str
    count: int
    first_line: int
    last_line: int
    first_seen: str | None
    last_seen: str | None
    sample: str

    def to_json(self) -> dict[str, Any]:
        return {
            "runbook": self.runbook, "count": self.count, "first_line": self.first_line,
            "last_line": self.last_line, "first_seen": self.first_seen, "last_seen": self.last_seen,
            "sample": self.sample,
        }


@dataclass
class ScanResult:
    source: str
    lines: int = 0
    bytes: int = 0  # uncompressed bytes scanned
    gzip: bool = False
    backend: str = ""  # which pre-filter found the candidate lines ("hyperscan", "python")
    seconds: float = 0.0
    incidents: dict[str, Incident] = field(default_factory=dict)

    def ordered(self) -> list[Incident]:
        return sorted(self.incidents.values(), key=lambda i: i.first_line)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source, "lines": self.lines, "bytes": self.bytes, "gzip": self.gzip,
            "backend": self.backend, "incidents": [i.to_json() for i in self.ordered()],
        }
