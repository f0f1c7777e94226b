"""Pure renderers for a TriageResult: human text (marks, optional colour) and the stable JSON schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neondoctor.triage.probes.base import CONFIRMED, INCONCLUSIVE, RULED_OUT
from neondoctor.triage.walk import ALL_RULED_OUT, DIFFERS, NOT_RUN, StepOutcome, TriageResult

MARKS = {CONFIRMED: "✓", RULED_OUT: "✗", INCONCLUSIVE: "?", NOT_RUN: "·", DIFFERS: "≠"}
COLOURS = {CONFIRMED: "red", RULED_OUT: "green", INCONCLUSIVE: "yellow", NOT_RUN: None, DIFFERS: "red"}


def to_json(result: TriageResult) -> dict[str, Any]:
    book, found, verdict = result.runbook, result.match, result.verdict
    return {
        "runbook": {"id": book.id, "title": book.title} if book else None,
        "matched": {"pattern": found.condition.name, "text": found.text, "context": found.context} if found else None,
        "target": {"error": result.target.to_json(), "differs": list(result.target_differs)} if result.target else None,
        "steps": [
            {"id": o.step.id, "cause": o.step.cause, "probe": o.step.probe, "status": o.status,
             "evidence": o.evidence, "duration_ms": o.duration_ms}
            for o in result.steps
        ],
        "verdict": {
            "status": verdict.status,
            "step": verdict.step.id if verdict.step else None,
            "cause": verdict.step.cause if verdict.step else None,
            "fix": verdict.step.fix if verdict.step and verdict.status == CONFIRMED else None,
            "docs": verdict.step.docs if verdict.step and verdict.status == CONFIRMED else None,
            "check": verdict.check,
            "continue_with": [f"--ruled-out {s}" for s in verdict.continue_with],
        },
        "exit_code": result.exit_code,
    }


def _style(text: str, colour: str | None, enabled: bool, bold: bool = False) -> str:
    if not enabled or (colour is None and not bold):
        return text
    import click

    return click.style(text, fg=colour, bold=bold)


def _step_line(o: StepOutcome, colour: bool) -> list[str]:
    mark = _style(MARKS.get(o.status, "?"), COLOURS.get(o.status), colour, bold=True)
    timing = f" ({o.duration_ms} ms)" if o.status != NOT_RUN and not o.by_user and o.duration_ms else ""
    kind = "manual" if o.step.is_manual else o.step.probe
    lines = [f"  {mark} {o.step.id} [{kind}]{timing}: {o.step.cause}"]
    if o.evidence:
        lines.append(f"      {o.evidence}")
    return lines


def to_text(result: TriageResult, *, colour: bool = False) -> str:
    if result.runbook is None or result.match is None:
        return ("No runbook matches this error: it does not look like a connection problem neondoctor knows.\n"
                "Run `neondoctor runbooks list` to see what is covered, or add a runbook with --runbooks-dir.")
    book, found, verdict = result.runbook, result.match, result.verdict
    out = [f"Runbook: {_style(book.id, None, colour, bold=True)} — {book.title}",
           f"Matched: {found.condition.name}: \"{found.text}\"", ""]
    if not result.probes_run:
        out.append("Plan (not run: --no-probes):")
    for o in result.steps:
        out.extend(_step_line(o, colour))
    out.append("")
    if verdict.status == CONFIRMED and verdict.step:
        out.append(_style(f"Confirmed: {verdict.step.cause}", "red", colour, bold=True))
        out.append(f"Fix: {verdict.step.fix}")
        if verdict.step.docs:
            out.append(f"Docs: {verdict.step.docs}")
        if result.target_differs and verdict.step.id != "target-mismatch":
            out.append("Also: the error names another target than DATABASE_URL (see target-mismatch above).")
    elif verdict.status == INCONCLUSIVE and verdict.step:
        out.append(_style(f"Stopped at {verdict.step.id}: {verdict.step.cause}", "yellow", colour, bold=True))
        out.append(f"Check: {verdict.check}")
        more = " ".join(f"--ruled-out {s}" for s in verdict.continue_with)
        out.append(f"Once ruled out, continue with: neondoctor triage ... {more}")
    elif verdict.status == ALL_RULED_OUT:
        out.append(_style("Every known cause was ruled out: none confirmed.", "yellow", colour, bold=True))
    else:
        out.append("Probes not run. Run without --no-probes to verify the causes one at a time.")
    return "\n".join(out)


def demo_result_text(index: int, total: int, item: Any, *, colour: bool = False) -> str:
    """One scenario of `neondoctor lab demo`: the real error, the walk in one line, the confirmed cause."""
    result: TriageResult = item.result
    error = " ".join(item.error.split()).split(" (Background on this error at:")[0]
    if len(error) > 220:
        error = error[:217] + "..."
    counter = f"[{index}/{total}]" if total else f"[{index}]"
    head = _style(f"{counter} {item.runbook_id}", None, colour, bold=True)
    out = [f"{head}: {item.title}", f"  error:   {error}"]
    if result.match:
        out.append(f"  matched: {result.match.runbook.id} via {result.match.condition.name}: \"{result.match.text}\"")
    walk = "  ".join(f"{_style(MARKS.get(o.status, '?'), COLOURS.get(o.status), colour, bold=True)} {o.step.id}"
                     for o in result.steps)
    out.append(f"  walk:    {walk}")
    verdict = result.verdict
    if verdict.status == CONFIRMED and verdict.step:
        evidence = result.steps[-1].evidence
        out.append(f"  cause:   {verdict.step.cause}")
        out.append(f"  seen:    {evidence}")
        out.append(f"  fix:     {' '.join(verdict.step.fix.split())}")
    else:
        out.append(f"  verdict: {verdict.status} at {verdict.step.id if verdict.step else '-'}")
    mark = _style("ok", "green", colour, bold=True) if item.ok else _style("UNEXPECTED", "red", colour, bold=True)
    out.append(f"  {mark} ({item.seconds:.1f} s)")
    return "\n".join(out)


def demo_summary_text(items: list[Any], seconds: float) -> str:
    good = sum(1 for i in items if i.ok)
    return f"{good}/{len(items)} faults reproduced for real and triaged to their confirmed cause in {seconds:.1f} s."


@dataclass(frozen=True)
class DemoRun:
    """What `lab demo` ends with: every fault triaged (DemoResult), every one skipped (DemoSkip), the time."""

    results: list[Any]
    skipped: list[Any]
    seconds: float


def demo_text(run: DemoRun, *, colour: bool = False) -> str:
    out = demo_summary_text(run.results, run.seconds)
    if run.skipped:
        out += f"\n{len(run.skipped)} fault(s) skipped (see above): they need what this machine lacks."
    return out


def demo_json(run: DemoRun) -> list[dict[str, Any]]:
    return ([{"fault": r.title, "expected_runbook": r.runbook_id, "expected_step": r.expected_step,
              "ok": r.ok, "error": r.error, "triage": to_json(r.result)} for r in run.results]
            + [{"fault": s.title, "skipped": s.reason} for s in run.skipped])
