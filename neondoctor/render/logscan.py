"""Pure renderers for `triage --log`: a ScanResult -> text (incidents by runbook, a sample each) and -> JSON."""

from __future__ import annotations

from typing import Any

from neondoctor.triage.logscan.model import ScanResult


def to_json(result: ScanResult) -> dict[str, Any]:
    return result.to_json()


def to_text(result: ScanResult, *, colour: bool = False) -> str:
    mb = result.bytes / 1e6
    head = f"{result.source}: {result.lines:,} lines, {mb:,.1f} MB" + (" (gzip)" if result.gzip else "")
    if not result.incidents:
        return head + "\nno known incident found"
    total = sum(i.count for i in result.incidents.values())
    lines = [head, f"{total} incident{'s' if total != 1 else ''} of {len(result.incidents)} kind"
             f"{'s' if len(result.incidents) != 1 else ''}:", ""]
    for inc in result.ordered():
        span = f"lines {inc.first_line}-{inc.last_line}" if inc.first_line != inc.last_line else f"line {inc.first_line}"
        when = ""
        if inc.first_seen:
            when = f", {inc.first_seen}" + (f" .. {inc.last_seen}" if inc.last_seen != inc.first_seen else "")
        lines.append(f"  {inc.runbook:<18} {inc.count:>6}x  {span}{when}")
        lines.append(f"  {'':<18} e.g. {inc.sample}")
    lines += ["", "Next: neondoctor triage \"<one of the sample lines>\" walks that runbook's causes."]
    return "\n".join(lines)
