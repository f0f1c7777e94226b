"""Runbooks as data: load YAML files, validate every one of them up front, return frozen models.

A runbook file looks like::

    id: auth-failure
    title: The server rejected the credentials
    order: 10
    match:                       # any condition matching wins; first in the list first
      - name: password-failed
        contains: password authentication failed
      - name: sqlstate-28P01
        regex: '\\b28P01\\b'
      - name: closed-at-connect
        contains: server closed the connection unexpectedly
        context: connect         # only when the stack shows the error was raised while connecting
        unless: [HTTPSConnectionPool(]   # not when these words show another stack's failure
    steps:                       # walked in order, one probe at a time
      - id: wrong-password
        cause: The password in DATABASE_URL is not the role's password
        probe: auth
        params: {}
        fix: Reset it ...
        docs: https://...
      - id: rotate
        cause: ...
        manual: Open the Neon console ...   # a check only a human can do

All problems of all files are collected and raised together as one ConfigError (exit 2),
each with its file and key path.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from neondoctor.errors import ConfigError
from neondoctor.triage.patterns import BoundedPattern, bounded, literal_pattern, regex_literals, regex_problem

# Match operators: name -> how the condition's value is turned into a compiled regex.
# A new operator is one entry here (value -> pattern source) plus its literal for the pre-filter.
OPERATORS: dict[str, str] = {
    "contains": "a literal phrase, case-insensitive, whitespace-tolerant",
    "regex": "a regular expression (RE2 syntax: linear time), case-insensitive",
    "all": "a list of literal phrases that must all occur (the first one is reported)",
}

RUNBOOK_KEYS = {"id", "title", "order", "description", "match", "steps"}
# Where the error was raised, read from the stack (see triage/context.py): `connect` (opening a
# connection), `in-use` (on an established one), `unknown` (no stack to tell). A condition with
# `context:` matches only in those; without it, in any.
CONTEXTS = ("connect", "in-use", "unknown")
CONDITION_KEYS = {"name", "context", "unless", *OPERATORS}
STEP_KEYS = {"id", "cause", "probe", "params", "fix", "docs", "manual"}
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Condition:
    name: str
    operator: str
    value: str | tuple[str, ...]
    regex: str  # the compiled form's source; compiled on first use (start-up pays only for what runs)
    literals: tuple[str, ...]  # lower-case literals, one of which occurs in any text the pattern matches
    contexts: tuple[str, ...] = ()  # where the error must have been raised; () means anywhere
    unless: tuple[str, ...] = ()  # lower-case phrases that, present anywhere in the paste, veto the match
    where: str = ""  # file and key path, for an error about this condition
    shipped: bool = False  # from neondoctor's own runbooks: reviewed, and kept on `re` for start-up speed

    @property
    def pattern(self) -> BoundedPattern:
        """A user `regex:` runs on RE2 when installed, else on `re` within a time budget (patterns.py)."""
        return bounded(self.regex, self.where, self.operator == "regex" and not self.shipped)

    @property
    def source(self) -> str:
        return self.value if isinstance(self.value, str) else " & ".join(self.value)


@dataclass(frozen=True)
class Step:
    id: str
    cause: str
    probe: str  # a probe id, or "manual"
    params: tuple[tuple[str, Any], ...] = ()
    fix: str = ""
    docs: str | None = None
    manual: str | None = None  # the exact instruction for a human check

    @property
    def is_manual(self) -> bool:
        return self.manual is not None

    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)


@dataclass(frozen=True)
class Runbook:
    id: str
    title: str
    order: int
    conditions: tuple[Condition, ...]
    steps: tuple[Step, ...]
    description: str = ""
    path: str = ""

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)


@dataclass
class _Problems:
    items: list[str] = field(default_factory=list)

    def add(self, path: Path | str, key: str, message: str) -> None:
        self.items.append(f"{path}: {key}: {message}")


@lru_cache(maxsize=256)
def _is_shipped(path: Path) -> bool:
    try:
        return path.resolve().parent == shipped_runbooks_dir().resolve()
    except OSError:
        return False


def shipped_runbooks_dir() -> Path:
    """The runbooks that ship with neondoctor: inside the wheel, or the repo's `runbooks/` (editable)."""
    try:
        packaged = resources.files("neondoctor") / "_runbooks"
        if packaged.is_dir():
            return Path(str(packaged))
    except (ModuleNotFoundError, OSError):
        pass
    return Path(__file__).resolve().parents[2] / "runbooks"


def _condition(raw: Any, where: str, path: Path, problems: _Problems) -> Condition | None:
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
                     where=f"{path}: {where}.{op}", shipped=_is_shipped(path))


def _contexts(raw: Any, where: str, path: Path, problems: _Problems) -> tuple[str, ...] | None:
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


def _step(raw: Any, where: str, path: Path, problems: _Problems, probe_ids: set[str]) -> Step | None:
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
    elif ok and probe != "manual":
        from neondoctor.triage.probes import get_probe

        for err in get_probe(probe).check_params(params):
            problems.add(path, f"{where}.params", err)
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


def parse_runbook(data: Any, path: Path, problems: _Problems) -> Runbook | None:
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
            cond = _condition(raw, f"match[{i}]", path, problems)
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


_CACHE: dict[str, Runbook | None] = {}  # sha256 of (path, contents) -> parsed runbook


def _disk_cache_dir() -> Path:
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "neondoctor" / "runbooks"


def _validator_fingerprint() -> str:
    """What validation depends on besides the file: this module and the probe registry's code.
    Any change to them invalidates every cached result."""
    global _FINGERPRINT
    if _FINGERPRINT is None:
        digest = hashlib.sha256()
        here = Path(__file__).resolve()
        for source in (here, *sorted((here.parent / "probes").glob("*.py"))):
            digest.update(source.read_bytes())
        _FINGERPRINT = digest.hexdigest()
    return _FINGERPRINT


_FINGERPRINT: str | None = None


def _read_disk_cache(key: str) -> Runbook | None:
    import pickle

    try:
        with open(_disk_cache_dir() / f"{key}.pickle", "rb") as fh:
            book = pickle.load(fh)
    except Exception:  # missing, unreadable or stale: validate from scratch
        return None
    return book if isinstance(book, Runbook) else None


def _write_disk_cache(key: str, book: Runbook) -> None:
    import os
    import pickle
    import tempfile

    try:
        directory = _disk_cache_dir()
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(book, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, directory / f"{key}.pickle")
    except OSError:
        pass  # a read-only home only costs speed


def _load_file(path: Path, problems: _Problems) -> Runbook | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(path, "(file)", f"cannot be read: {exc}")
        return None
    key = hashlib.sha256(f"{path}\0{text}".encode()).hexdigest()
    if key in _CACHE:
        return _CACHE[key]
    # Validated results are kept on disk keyed on the file's contents and the validator's code, so
    # a start-up does not re-parse every regex; any edit to either is a miss and validates again.
    disk_key = hashlib.sha256(f"{_validator_fingerprint()}\0{key}".encode()).hexdigest()
    cached = _read_disk_cache(disk_key)
    if cached is not None:
        _CACHE[key] = cached
        return cached
    import yaml  # only on a cache miss: start-up with a warm cache never pays for it

    try:
        # libyaml's loader when present: several times faster, and triage start-up waits on it.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        if "&" in text or "*" in text:
            alias = _first_alias(text, loader)
            if alias:
                problems.add(path, alias, "YAML anchors and aliases are not allowed in a runbook "
                                          "(an alias can expand without limit): write the value out")
                return None
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        problems.add(path, where, f"invalid YAML: {getattr(exc, 'problem', None) or exc}")
        return None
    local = _Problems()
    book = parse_runbook(data, path, local)
    problems.items.extend(local.items)
    if not local.items and book is not None:
        _CACHE[key] = book  # only valid results are cached: problems are re-reported every time
        _write_disk_cache(disk_key, book)
    return book


def _first_alias(text: str, loader: Any) -> str | None:
    """Where the first anchor or alias is ("line N"), from the parser's events: nothing is expanded."""
    import yaml

    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            return f"line {event.start_mark.line + 1}"
    return None


def runbook_files(directory: Path) -> list[Path]:
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])


def load_runbooks(extra_dirs: list[str | Path] | tuple[str | Path, ...] = (), *, include_shipped: bool = True
                  ) -> list[Runbook]:
    """The shipped runbooks plus those in `extra_dirs`, validated, sorted by (order, id).

    Raises ConfigError listing every problem, with file and key path.
    """
    problems = _Problems()
    dirs: list[Path] = [shipped_runbooks_dir()] if include_shipped else []
    for d in extra_dirs:
        p = Path(d)
        if not p.is_dir():
            problems.add(p, "(dir)", "runbooks directory does not exist")
            continue
        # The same directory named twice (e.g. the shipped one) is read once, not reported as duplicates.
        if p.resolve() not in {x.resolve() for x in dirs}:
            dirs.append(p)
    books: list[Runbook] = []
    for d in dirs:
        files = runbook_files(d)
        if not files and d in [Path(x) for x in extra_dirs]:
            problems.add(d, "(dir)", "holds no *.yaml runbook")
        for f in files:
            book = _load_file(f, problems)
            if book:
                books.append(book)
    seen: dict[str, str] = {}
    for book in books:
        if book.id in seen:
            problems.add(book.path, "id", f"duplicate runbook id {book.id!r} (also in {seen[book.id]})")
        seen.setdefault(book.id, book.path)
    if problems.items:
        count = len(problems.items)
        raise ConfigError(f"{count} runbook problem{'s' if count > 1 else ''}:\n  " + "\n  ".join(problems.items))
    return sorted(books, key=lambda b: (b.order, b.id))


def validate_dir(directory: str | Path) -> list[Runbook]:
    """Validate only the runbooks of one directory (what `runbooks validate DIR` checks)."""
    return load_runbooks([directory], include_shipped=False)
