"""A check only a human can do. The walk stops at it and prints the step's instruction."""

from __future__ import annotations

from typing import Any

from neondoctor.triage.probes.base import Probe, ProbeContext, ProbeResult


def run(ctx: ProbeContext, params: dict[str, Any]) -> ProbeResult:
    return ProbeResult.inconclusive("a human check: see the instruction")


PROBE = Probe(id="manual", summary="a check only a human can do", run=run)
