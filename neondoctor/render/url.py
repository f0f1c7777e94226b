"""Pure renderers for `url`: a UrlAudit -> text (each part, what it controls, the findings) and -> JSON."""

from __future__ import annotations

from typing import Any

from neondoctor.audit.url_audit import UrlAudit

MARKS = {"ok": "✓", "info": "i", "warn": "!", "critical": "✗"}


def to_json(report: UrlAudit) -> dict[str, Any]:
    return report.to_json()


def to_text(report: UrlAudit, *, colour: bool = False) -> str:
    lines = [f"URL: {report.url.masked()}"]
    if report.env is not None:
        lines.append(f"Environment checked: {report.env.describe()}")
    lines.append(f"Driver: {report.effective_driver} ({report.driver_reason})")
    lines.append("")
    width = max(len(p.name) for p in report.parts)
    vwidth = min(40, max(len(str(p.value if p.value is not None else "-")) for p in report.parts))
    for part in report.parts:
        value = part.value if part.value is not None else "-"
        if len(value) > vwidth:  # a long host: its explanation goes on the next line
            lines.append(f"  {part.name:<{width}}  {value}")
            lines.append(f"  {'':<{width}}  {'':<{vwidth}}  {part.controls}")
        else:
            lines.append(f"  {part.name:<{width}}  {value:<{vwidth}}  {part.controls}")
    lines.append("")
    if not report.findings:
        lines.append("No findings.")
    else:
        lines.append("Findings:")
        for f in report.findings:
            lines.append(f"  {MARKS[f.severity]} [{f.severity}] {f.id}: {f.message}")
    return "\n".join(lines)
