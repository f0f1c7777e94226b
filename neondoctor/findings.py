"""A finding: what a check saw, how bad it is, and where to read more. Shared by every command."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

SEVERITIES = ("ok", "info", "warn", "critical")


@dataclass(frozen=True)
class Finding:
    id: str
    severity: str  # one of SEVERITIES
    message: str
    docs: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")

    @property
    def rank(self) -> int:
        return SEVERITIES.index(self.severity)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def worst(findings: list[Finding]) -> str:
    return max((f.severity for f in findings), key=SEVERITIES.index, default="ok")


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Most severe first, then by id: deterministic output."""
    return sorted(findings, key=lambda f: (-f.rank, f.id))
