"""Finding, reading and caching runbooks: the shipped directory, user directories, YAML, the caches.

A validated runbook is cached in memory and on disk, keyed on the file's path and contents and on
the validator's own code, so a start-up reads a pickle instead of parsing YAML and every regex; any
edit to either is a miss and validates again. Problems are never cached: they are re-reported
every time.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from neondoctor.errors import ConfigError
from neondoctor.triage.runbook.model import Problems, Runbook

_CACHE: dict[str, Runbook | None] = {}  # sha256 of (path, contents) -> parsed runbook
_FINGERPRINT: str | None = None


def shipped_runbooks_dir() -> Path:
    """The runbooks that ship with neondoctor: inside the wheel, or the repo's `runbooks/` (editable)."""
    # Beside the package's files (importlib.resources would cost start-up time for the same answer:
    # the runbooks are read as plain files, so a zipped install could not use them either way).
    here = Path(__file__).resolve().parents[2]
    packaged = here / "_runbooks"
    if packaged.is_dir():
        return packaged
    return here.parent / "runbooks"


@lru_cache(maxsize=256)
def _is_shipped(path: Path) -> bool:
    try:
        return path.resolve().parent == shipped_runbooks_dir().resolve()
    except OSError:
        return False


def _disk_cache_dir() -> Path:
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "neondoctor" / "runbooks"


def _validator_fingerprint() -> str:
    """What validation depends on besides the file: this package, the regex checks and the probes'
    code (their ids and declared parameters). Any change to them invalidates every cached result."""
    global _FINGERPRINT
    if _FINGERPRINT is None:
        digest = hashlib.sha256()
        here = Path(__file__).resolve().parent
        triage = here.parent
        for source in (*sorted(here.glob("*.py")), triage / "patterns.py", *sorted((triage / "probes").glob("*.py"))):
            digest.update(source.read_bytes())
        _FINGERPRINT = digest.hexdigest()
    return _FINGERPRINT


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


def _load_file(path: Path, problems: Problems) -> Runbook | None:
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
    import yaml  # only on a cache miss: a warm start-up never pays for it

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
    from neondoctor.triage.runbook.validate import parse_runbook  # only on a cache miss, like yaml

    local = Problems()
    book = parse_runbook(data, path, local, shipped=_is_shipped(path))
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
    problems = Problems()
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
