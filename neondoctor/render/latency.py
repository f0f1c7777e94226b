"""Pure renderers for `latency`: a LatencyReport -> text (medians, p10/p90, what they mean) and -> JSON."""

from __future__ import annotations

from typing import Any

from neondoctor.latency.measure import LatencyReport


def to_json(report: LatencyReport) -> dict[str, Any]:
    return report.to_json()


def to_text(report: LatencyReport, *, colour: bool = False) -> str:
    lines = [f"latency of {report.target} ({report.rounds} rounds; TLS: {report.tls})",
             f"driver: {report.driver} ({report.driver_reason})", ""]
    lines.append(f"  {'stage':<28} {'median':>10} {'p10':>10} {'p90':>10}  n")
    for stage in report.stages.values():
        if stage.samples:
            s = stage.summary()
            lines.append(f"  {stage.label:<28} {_ms(s['median_ms'])} {_ms(s['p10_ms'])} {_ms(s['p90_ms'])}  {s['n']}")
        elif stage.derived_ms is not None:
            lines.append(f"  {stage.label:<28} {_ms(stage.derived_ms)} {'':>10} {'':>10}  ~")
        else:
            lines.append(f"  {stage.label:<28} {'-':>10}   {stage.note or 'skipped'}")
    if report.meanings:
        lines += ["", "What it means:"]
        lines += [f"  - {m}" for m in report.meanings]
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return f"{'-' if value is None else f'{value:.2f} ms':>10}"
