"""Pure renderers for runbooks (list and show), text and JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from neondoctor.triage.runbook import Runbook


def list_json(books: Sequence[Runbook]) -> list[dict[str, Any]]:
    return [{"id": b.id, "title": b.title, "order": b.order, "conditions": len(b.conditions),
             "steps": [s.id for s in b.steps], "path": b.path} for b in books]


def list_text(books: Sequence[Runbook], *, colour: bool = False) -> str:
    width = max((len(b.id) for b in books), default=0)
    lines = [f"{b.order:>4}  {b.id:<{width}}  {b.title}  ({len(b.steps)} steps)" for b in books]
    return "\n".join(["order  id" + " " * max(width - 1, 1) + "title", *lines])


def show_json(book: Runbook) -> dict[str, Any]:
    return {
        "id": book.id, "title": book.title, "order": book.order, "description": book.description,
        "path": book.path,
        "match": [{"name": c.name, c.operator: c.value if isinstance(c.value, str) else list(c.value),
                   **({"context": list(c.contexts)} if c.contexts else {}),
                   **({"unless": list(c.unless)} if c.unless else {})}
                  for c in book.conditions],
        "steps": [{"id": s.id, "cause": s.cause, "probe": s.probe, "params": dict(s.params), "fix": s.fix or None,
                   "docs": s.docs, "manual": s.manual} for s in book.steps],
    }


def show_text(book: Runbook, *, colour: bool = False) -> str:
    out = [f"{book.id} (order {book.order}): {book.title}", f"  file: {book.path}"]
    if book.description:
        out.append(f"  {book.description}")
    out.append("Matches (first match wins):")
    for c in book.conditions:
        where = f" (raised at: {', '.join(c.contexts)})" if c.contexts else ""
        unless = f" (not with: {', '.join(c.unless)})" if c.unless else ""
        out.append(f"  - {c.name}: {c.operator} `{c.source}`{where}{unless}")
    out.append("Steps (one at a time, stop at the first confirmed):")
    for i, s in enumerate(book.steps, 1):
        params = ", ".join(f"{k}={v}" for k, v in s.params)
        probe = "manual" if s.is_manual else f"probe {s.probe}" + (f" ({params})" if params else "")
        out.append(f"  {i}. {s.id} [{probe}]: {s.cause}")
        if s.manual:
            out.append(f"     check: {s.manual}")
        if s.fix:
            out.append(f"     fix: {s.fix}")
        if s.docs:
            out.append(f"     docs: {s.docs}")
    return "\n".join(out)
