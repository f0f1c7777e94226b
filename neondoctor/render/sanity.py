"""Pure renderers of a SanityReport: text, JSON, JUnit XML. No SQL, no decisions."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from neondoctor.redaction import redact, redact_value, write_text
from neondoctor.sanity.sequence import SanityReport

SYMBOLS = {"passed": "✓", "failed": "✗", "skipped": "-"}


def render_text(report: SanityReport) -> str:
    lines = [f"sanity of {report.database} (metadata {report.metadata})"]
    if report.driver_reason:
        lines.append(f"  driver: {report.driver} ({report.driver_reason})")
    width = max(len(s.name) for s in report.steps)
    for step in report.steps:
        duration = f"{step.duration_ms:9.1f} ms" if step.status != "skipped" else f"{'':>12}"
        detail = step.detail if step.status != "skipped" else "skipped"
        lines.append(f"  {SYMBOLS[step.status]} {step.name:<{width}} {duration}  {detail}")
    if report.cleanup:
        lines.append(f"  cleanup: {report.cleanup}")
    failed = report.failed_step
    if report.triage:
        t = report.triage
        lines += ["", f"Triage: runbook {t['runbook']}: {t['title']}", "  Check first:"]
        for n, step in enumerate(t.get("first_steps", []), 1):
            lines.append(f"    {n}. {step['cause']}" + (f" (fix: {step['fix']})" if step.get("fix") else ""))
        lines.append("  Walk it step by step: neondoctor triage")
    passed = sum(s.status == "passed" for s in report.steps)
    verdict = (f"PASSED: {passed}/{len(report.steps)} steps" if report.passed
               else f"FAILED at step {failed.name if failed else '?'} ({passed}/{len(report.steps)} passed)")
    lines += ["", f"{verdict} in {report.duration_ms / 1000:.2f}s"]
    return redact("\n".join(lines))


def render_json(report: SanityReport) -> str:
    return json.dumps(redact_value(report.to_json()), indent=2, ensure_ascii=False)


def render_junit(report: SanityReport) -> str:
    """One <testcase> per step: failed steps carry <failure message=...>, skipped ones <skipped/>."""
    failures = sum(s.status == "failed" for s in report.steps)
    skipped = sum(s.status == "skipped" for s in report.steps)
    suite = ET.Element("testsuite", {
        "name": "neondoctor sanity", "tests": str(len(report.steps)), "failures": str(failures),
        "errors": "0", "skipped": str(skipped), "time": f"{report.duration_ms / 1000:.3f}",
    })
    props = ET.SubElement(suite, "properties")
    for name, value in (("database", report.database), ("metadata", report.metadata), ("run_token", report.token)):
        ET.SubElement(props, "property", {"name": name, "value": redact(value)})
    for step in report.steps:
        case = ET.SubElement(suite, "testcase", {
            "classname": "neondoctor.sanity.sequence", "name": step.name, "time": f"{step.duration_ms / 1000:.3f}",
        })
        if step.status == "failed":
            failure = ET.SubElement(case, "failure", {"message": redact(step.error or step.detail),
                                                      "type": "SanityStepFailed"})
            body = [step.detail]
            if report.triage:
                t = report.triage
                body.append(f"triage: runbook {t['runbook']}: {t['title']}")
                body += [f"  check: {s['cause']}" for s in t.get("first_steps", [])]
            failure.text = redact("\n".join(body))
        elif step.status == "skipped":
            ET.SubElement(case, "skipped", {"message": "an earlier step failed"})
        else:
            ET.SubElement(case, "system-out").text = redact(step.detail)
    root = ET.Element("testsuites", {"name": "neondoctor", "tests": str(len(report.steps)),
                                     "failures": str(failures), "time": f"{report.duration_ms / 1000:.3f}"})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(report: SanityReport, path: str | Path) -> None:
    write_text(path, render_junit(report))
