"""Pure renderers of a SanityReport: text, JSON, JUnit XML (and the schema step's notices). No SQL, no decisions."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from neondoctor.redaction import redact, redact_value, write_text
from neondoctor.sanity.report import SanityReport

SYMBOLS = {"passed": "✓", "failed": "✗", "skipped": "-"}
# Characters XML 1.0 cannot hold at all (not even escaped): most C0 controls, surrogates, U+FFFE/U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    """Redacted, with every character XML 1.0 forbids written as a visible escape (\\x1b)."""
    return _NOT_XML.sub(lambda m: m.group(0).encode("unicode_escape", "backslashreplace").decode("ascii"),
                        redact(text))


def to_text(report: SanityReport, *, colour: bool = False) -> str:
    lines = [f"sanity of {report.database} (metadata {report.metadata})"]
    if report.driver_reason:
        lines.append(f"  driver: {report.driver} ({report.driver_reason})")
    width = max(len(s.name) for s in report.steps)
    for step in report.steps:
        duration = f"{step.duration_ms:9.1f} ms" if step.status != "skipped" else f"{'':>12}"
        detail = step.detail if step.status != "skipped" else f"skipped: {step.detail}" if step.detail else "skipped"
        if step.differences and step.status == "failed":
            detail = f"schema drift: {len(step.differences)} differences"
        lines.append(f"  {SYMBOLS[step.status]} {step.name:<{width}} {duration}  {detail}")
        lines += [f"      ✗ {d}" for d in step.differences] + [f"      + {e} (reported only)" for e in step.extras]
    if report.created:
        lines.append(f"  created (left in place): {', '.join(report.created)}")
    if report.cleanup:
        lines.append(f"  cleanup: {report.cleanup}")
    failed = report.failed_step
    if report.triage:
        lines += ["", *_advice_lines(report.triage)]
    passed = sum(s.status == "passed" for s in report.steps)
    skipped = [s.name for s in report.steps if s.status == "skipped"]
    note = f", skipped: {', '.join(skipped)}" if skipped and report.passed else ""
    verdict = (f"PASSED: {passed}/{len(report.steps)} steps{note}" if report.passed
               else f"FAILED at step {failed.name if failed else '?'} ({passed}/{len(report.steps)} passed)")
    lines += ["", f"{verdict} in {report.duration_ms / 1000:.2f}s"]
    return redact("\n".join(lines))


def _advice_lines(t: dict) -> list[str]:
    """The failed step's error, triaged: runbook, what the evidence ruled out, what to check next."""
    lines = [f"Triage: runbook {t['runbook']}: {t['title']}"]
    if t.get("ruled_out"):
        lines.append("  Ruled out by the evidence:")
        lines += [f"    - {r['id']}: {r['evidence']}" for r in t["ruled_out"]]
    if t.get("next_check"):
        label = "Confirmed" if t.get("verdict") == "confirmed" else "Check next"
        lines.append(f"  {label}: {t['next_check']}" + (f" (fix: {t['fix']})" if t.get("fix") else ""))
    if t.get("first_steps"):
        lines.append("  Check first:")
        for n, step in enumerate(t["first_steps"], 1):
            lines.append(f"    {n}. {step['cause']}" + (f" (fix: {step['fix']})" if step.get("fix") else ""))
    lines.append(f"  Walk it step by step: {t.get('command') or 'neondoctor triage'}")
    return lines


def announce_text(objects: list[str], *, colour: bool = False) -> str:
    """Said before the schema step runs: what it is about to create in the database."""
    if not objects:
        return "schema: nothing to create, everything exists"
    return redact(f"schema: will create {', '.join(objects)} (left in place; see README, sanity)")


def dropped_text(objects: list[str], *, colour: bool = False) -> str:
    return redact(f"dropped {', '.join(objects)}" if objects else "nothing to drop: neondoctor's own objects are not there")


def to_json(report: SanityReport) -> dict[str, Any]:
    return redact_value(report.to_json())


def to_junit(report: SanityReport) -> str:
    """One <testcase> per step: failed steps carry <failure message=...>, skipped ones <skipped/>."""
    failures = sum(s.status == "failed" for s in report.steps)
    skipped = sum(s.status == "skipped" for s in report.steps)
    suite = ET.Element("testsuite", {
        "name": "neondoctor sanity", "tests": str(len(report.steps)), "failures": str(failures),
        "errors": "0", "skipped": str(skipped), "time": f"{report.duration_ms / 1000:.3f}",
    })
    props = ET.SubElement(suite, "properties")
    for name, value in (("database", report.database), ("metadata", report.metadata), ("run_token", report.token)):
        ET.SubElement(props, "property", {"name": name, "value": _xml(value)})
    for name, items in (("will_create", report.will_create), ("created", report.created)):
        ET.SubElement(props, "property", {"name": name, "value": _xml(", ".join(items))})
    for step in report.steps:
        case = ET.SubElement(suite, "testcase", {
            "classname": "neondoctor.sanity.sequence", "name": _xml(step.name),
            "time": f"{step.duration_ms / 1000:.3f}",
        })
        if step.status == "failed":
            failure = ET.SubElement(case, "failure", {"message": _xml(step.error or step.detail),
                                                      "type": "SanityStepFailed"})
            body = [step.detail, *step.differences]
            if report.triage:
                t = report.triage
                body.append(f"triage: runbook {t['runbook']}: {t['title']}")
                body += [f"  ruled out: {r['id']}: {r['evidence']}" for r in t.get("ruled_out", [])]
                body += [f"  check: {s['cause']}" for s in t.get("first_steps", [])]
                if t.get("command"):
                    body.append(f"  run: {t['command']}")
            failure.text = _xml("\n".join(body))
        elif step.status == "skipped":
            ET.SubElement(case, "skipped", {"message": _xml(step.detail or "an earlier step failed")})
        else:
            ET.SubElement(case, "system-out").text = _xml(step.detail)
    root = ET.Element("testsuites", {"name": "neondoctor", "tests": str(len(report.steps)),
                                     "failures": str(failures), "time": f"{report.duration_ms / 1000:.3f}"})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(report: SanityReport, path: str | Path) -> None:
    write_text(path, to_junit(report))
