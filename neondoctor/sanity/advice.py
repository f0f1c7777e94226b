"""Advice for a failed step, from its own error: the runbook it matches, walked in-process.

The same matcher and walk as `neondoctor triage`, against the URL the run used: a probe rules out
what the evidence rules out (DATABASE_URL is set and parses, so "not set" and "malformed" never head
the list), and the walk stops at the first cause it confirms or cannot decide. The advice ends with
the exact `neondoctor triage` command, the error quoted for the shell (already redacted).
"""

from __future__ import annotations

import shlex
from typing import Any

from neondoctor.redaction import redact

RULED_OUT = "ruled_out"


def triage_command(error_text: str) -> str:
    return f"neondoctor triage {shlex.quote(redact(error_text))}"


def triage_hint(error_text: str, database_url: str | None = None, timeout: int = 5) -> dict[str, Any] | None:
    """The matched runbook, what the walk ruled out, the next check; None when no runbook matches.

    Without a URL (or with probes unavailable) the runbook's steps are listed unverified. Any
    failure inside triage leaves the step's own error as the whole report.
    """
    try:
        from neondoctor.triage.matcher import Matcher
        from neondoctor.triage.runbook import load_runbooks
        from neondoctor.triage.walk import TriageOptions, build_context, walk
    except ImportError:
        return None
    try:
        found = Matcher(load_runbooks()).match(error_text)
        if found is None:
            return None
        book = found.runbook
        outcomes: tuple[Any, ...] = ()
        verdict = None
        if database_url is not None:
            ctx = build_context(TriageOptions(database_url=database_url, timeout=timeout), found.text)
            outcomes, verdict = walk(book, ctx)
    except Exception:  # a broken runbook or probe must not hide the sanity result itself
        return None
    ruled_out = [{"id": o.step.id, "evidence": redact(o.evidence)} for o in outcomes if o.status == RULED_OUT]
    gone = {item["id"] for item in ruled_out}
    check_first = []
    for step in book.steps:
        if step.id in gone:
            continue
        item = {"id": step.id, "cause": step.cause}
        if step.fix:
            item["fix"] = step.fix
        evidence = next((o.evidence for o in outcomes if o.step.id == step.id), None)
        if evidence:
            item["evidence"] = redact(evidence)
        check_first.append(item)
    out: dict[str, Any] = {
        "runbook": book.id, "title": book.title, "matched": redact(found.text)[:300],
        "verdict": verdict.status if verdict is not None else "not_run",
        "ruled_out": ruled_out, "first_steps": check_first[:3],
        "command": triage_command(error_text),
    }
    if verdict is not None and verdict.step is not None:
        out["next_check"] = redact(verdict.check or verdict.step.cause)
        if verdict.status == "confirmed" and verdict.step.fix:
            out["fix"] = verdict.step.fix
    return out
