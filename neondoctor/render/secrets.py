"""Pure renderers for `secrets`: a SecretsReport -> text (one line per finding) and -> JSON."""

from __future__ import annotations

from typing import Any

from neondoctor.audit.secrets import SecretsReport


def to_json(report: SecretsReport) -> dict[str, Any]:
    return report.to_json()


def to_text(report: SecretsReport, *, colour: bool = False) -> str:
    if not report.findings:
        past = "" if report.history_blobs_scanned is None else f", {report.history_blobs_scanned} past blobs"
        return f"secrets: {report.root}: clean ({report.files_scanned} tracked files checked{past})"
    lines = [f"secrets: {report.root}: {len(report.findings)} finding(s) in {report.files_scanned} tracked files"]
    for f in report.findings:
        lines.append(f"{f.location}: [{f.severity}] {f.id}: {f.message}")
        if f.excerpt:
            lines.append(f"    {f.excerpt}")
    return "\n".join(lines)
