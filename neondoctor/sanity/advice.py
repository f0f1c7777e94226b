"""Advice for a failed step: the runbook its error matches."""

from __future__ import annotations

from typing import Any

from neondoctor.redaction import redact


def triage_hint(error_text: str) -> dict[str, Any] | None:
    """The runbook matching a failed step's error: id, title and first steps; None when none matches.

    The triage engine is optional here: if it cannot be imported or loaded, the step's own error
    is still reported.
    """
    try:
        from neondoctor.triage.matcher import match_text
        from neondoctor.triage.runbook import load_runbooks
    except ImportError:
        return None
    try:
        found = match_text(error_text, load_runbooks())
    except Exception:  # a broken runbook must not hide the sanity result itself
        return None
    if found is None:
        return None
    book = found.runbook
    steps = []
    for step in book.steps[:3]:
        item = {"id": step.id, "cause": step.cause}
        if step.fix:
            item["fix"] = step.fix
        steps.append(item)
    return {"runbook": book.id, "title": book.title, "matched": redact(found.text)[:300],
            "first_steps": steps, "command": "neondoctor triage"}

