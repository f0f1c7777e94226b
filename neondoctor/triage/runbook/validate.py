"""Runbook validation: YAML data -> frozen models (model.py), every problem collected with file and key path.

One pass checks everything a runbook can get wrong up front: unknown keys, operators and probe ids,
missing or mistyped values, duplicate ids, regexes that do not compile or could backtrack, and each
step's `params` against what its probe declares (probes/base.py `Param`). Nothing stops at the first
problem: the caller raises them all at once.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from neondoctor.triage.patterns import literal_pattern, regex_literals, regex_problem
from neondoctor.triage.runbook.model import CONTEXTS, OPERATORS, Condition, Problems, Runbook, Step

RUNBOOK_KEYS = {"id", "title", "order", "description", "match", "steps"}
CONDITION_KEYS = {"name", "context", "unless", *OPERATORS}
STEP_KEYS = {"id", "cause", "probe", "params", "fix", "docs", "manual"}
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def _condition(raw: Any, where: str, path: Path, problems: Problems, shipped: bool) -> Condition | None:
    if not isinstance(raw, dict):
        problems.add(path, where, "must be a mapping with `name` and one operator")
        return None
    for key in raw:
        if key not in CONDITION_KEYS:
            problems.add(path, f"{where}.{key}", f"unknown operator or key (operators: {', '.join(OPERATORS)})")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        problems.add(path, f"{where}.name", "missing or not a string")
    ops = [k for k in raw if k in OPERATORS]
    if len(ops) != 1:
        if not [k for k in raw if k not in CONDITION_KEYS]:
            problems.add(path, where, f"needs exactly one operator of: {', '.join(OPERATORS)}")
        return None
    contexts = _contexts(raw.get("context"), where, path, problems)
    if contexts is None:
        return None
    unless = raw.get("unless", [])
    if not isinstance(unless, list) or not all(isinstance(u, str) and u.strip() for u in unless):
        problems.add(path, f"{where}.unless", "must be a list of phrases (another stack's words for its own failure)")
        return None
    op = ops[0]
    value = raw[op]
    if op == "all":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            problems.add(path, f"{where}.all", "must be a non-empty list of phrases")
            return None
        value_t: str | tuple[str, ...] = tuple(value)
        # any whitespace may separate the words: the longest word is a safe literal
        literals: tuple[str, ...] = (max(value[0].lower().split(), key=len),)
        # the lookaheads scan from the start: anchor them there
        source = "\\A" + "".join(f"(?=[\\s\\S]*?{literal_pattern(v)})" for v in value[1:]) + \
            f"[\\s\\S]*?({literal_pattern(value[0])})"
    else:
        if not isinstance(value, str) or not value.strip():
            problems.add(path, f"{where}.{op}", "must be a non-empty string")
            return None
        value_t = value
        if op == "contains":
            source = literal_pattern(value)
            # whitespace inside the phrase may be any run; the longest word is a safe literal
            literals = (max(value.lower().split(), key=len),)
        else:
            source = value
            literals = regex_literals(value)
    problem = regex_problem(source) if op == "regex" else None
    if problem:
        problems.add(path, f"{where}.{op}", problem)
        return None
    return Condition(name=str(name), operator=op, value=value_t, regex=source, literals=literals,
                     contexts=contexts, unless=tuple(u.lower() for u in unless),
                     where=f"{path}: {where}.{op}", shipped=shipped)


def _contexts(raw: Any, where: str, path: Path, problems: Problems) -> tuple[str, ...] | None:
    """`context: connect` or `context: [in-use, unknown]` -> a tuple; None after reporting a problem."""
    if raw is None:
        return ()
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not values or not all(v in CONTEXTS for v in values):
        problems.add(path, f"{where}.context", f"must be one or a list of: {', '.join(CONTEXTS)}")
        return None
    return tuple(dict.fromkeys(values))


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _step(raw: Any, where: str, path: Path, problems: Problems, probe_ids: set[str]) -> Step | None:
    if not isinstance(raw, dict):
        problems.add(path, where, "must be a mapping")
        return None
    for key in raw:
        if key not in STEP_KEYS:
            problems.add(path, f"{where}.{key}", f"unknown key (allowed: {', '.join(sorted(STEP_KEYS))})")
    ok = True
    sid = raw.get("id")
    if not isinstance(sid, str) or not _ID.match(sid):
        problems.add(path, f"{where}.id", "missing, or not lower-case letters, digits and dashes")
        ok = False
    cause = raw.get("cause")
    if not isinstance(cause, str) or not cause.strip():
        problems.add(path, f"{where}.cause", "missing or empty")
        ok = False
    manual = raw.get("manual")
    probe = raw.get("probe")
    if manual is not None:
        if not isinstance(manual, str) or not manual.strip():
            problems.add(path, f"{where}.manual", "must be the exact instruction for the human check")
            ok = False
        if probe not in (None, "manual"):
            problems.add(path, f"{where}.probe", "a manual step has no probe")
            ok = False
        probe = "manual"
    elif not isinstance(probe, str):
        problems.add(path, f"{where}.probe", "missing: name a probe or give `manual:`")
        ok = False
    elif probe not in probe_ids:
        problems.add(path, f"{where}.probe", f"unknown probe {probe!r} (known: {', '.join(sorted(probe_ids))})")
        ok = False
    params = raw.get("params", {}) or {}
    if not isinstance(params, dict):
        problems.add(path, f"{where}.params", "must be a mapping")
        ok = False
    elif ok:
        from neondoctor.triage.probes import get_probe

        # The probe declares its parameters (probes/base.py Param): a wrong value fails here, not mid-incident.
        for key, err in get_probe(probe).check_params(params):
            problems.add(path, f"{where}.params" + (f".{key}" if key else ""), err)
            ok = False
    fix = raw.get("fix", "")
    if manual is None and (not isinstance(fix, str) or not fix.strip()):
        problems.add(path, f"{where}.fix", "missing: what to do when this cause is confirmed")
        ok = False
    docs = raw.get("docs")
    if docs is not None and not (isinstance(docs, str) and docs.startswith("https://")):
        problems.add(path, f"{where}.docs", "must be an https:// link")
        ok = False
    if not ok:
        return None
    return Step(id=sid, cause=cause.strip(), probe=probe, params=_freeze(params), fix=(fix or "").strip(),
                docs=docs, manual=manual.strip() if manual else None)


def parse_runbook(data: Any, path: Path, problems: Problems, *, shipped: bool = False) -> Runbook | None:
    """One runbook from its YAML data; None after adding its problems. `shipped`: one of neondoctor's own."""
    from neondoctor.triage.probes import PROBES

    probe_ids = set(PROBES)
    if not isinstance(data, dict):
        problems.add(path, "(top)", "must be a mapping")
        return None
    for key in data:
        if key not in RUNBOOK_KEYS:
            problems.add(path, str(key), f"unknown key (allowed: {', '.join(sorted(RUNBOOK_KEYS))})")
    before = len(problems.items)
    rid = data.get("id")
    if not isinstance(rid, str) or not _ID.match(rid):
        problems.add(path, "id", "missing, or not lower-case letters, digits and dashes")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.add(path, "title", "missing or empty")
    order = data.get("order")
    if not isinstance(order, int) or isinstance(order, bool):
        problems.add(path, "order", "missing or not an integer (runbooks are matched in this order)")
    match = data.get("match")
    conditions: list[Condition] = []
    if not isinstance(match, list) or not match:
        problems.add(path, "match", "must be a non-empty list of conditions")
    else:
        names: set[str] = set()
        for i, raw in enumerate(match):
            cond = _condition(raw, f"match[{i}]", path, problems, shipped)
            if cond:
                if cond.name in names:
                    problems.add(path, f"match[{i}].name", f"duplicate condition name {cond.name!r}")
                names.add(cond.name)
                conditions.append(cond)
    steps: list[Step] = []
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        problems.add(path, "steps", "must be a non-empty list of steps")
    else:
        ids: set[str] = set()
        for i, raw in enumerate(raw_steps):
            step = _step(raw, f"steps[{i}]", path, problems, probe_ids)
            sid = raw.get("id") if isinstance(raw, dict) else None
            if isinstance(sid, str):
                if sid in ids:
                    problems.add(path, f"steps[{i}].id", f"duplicate step id {sid!r}")
                ids.add(sid)
            if step:
                steps.append(step)
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        problems.add(path, "description", f"must be text, not a {type(description).__name__}")
    if len(problems.items) != before:
        return None
    return Runbook(id=rid, title=title.strip(), order=order, conditions=tuple(conditions), steps=tuple(steps),
                   description=str(data.get("description") or "").strip(), path=str(path))
