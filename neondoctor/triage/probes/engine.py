"""The app's SQLAlchemy engine settings: pool_pre_ping, pool_recycle, pool size/overflow/timeout.

From `--engine module:attr` (the engine object itself, imported by neondoctor.loader), else a
static read of the create_engine(...) calls in the working directory's *.py files, with Python's
own parser: a call in a comment, a docstring or a string is not a call, and a keyword whose value
is not a literal (or a `**kwargs` spread) is "unknown", never "off". Nothing of the app is imported
then.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neondoctor.triage.probes.base import Param, Probe, ProbeContext, ProbeResult

SKIP_DIRS = {"node_modules", "site-packages", "__pycache__", "venv", "env", "build", "dist"}
MAX_FILES = 2000
MAX_FILE_BYTES = 2_000_000
FACTORIES = {"create_engine", "create_async_engine"}
CHECKS = ("pre_ping", "pool_capacity")
# neondoctor's own engine factory pre-pings unless told otherwise.
DEFAULTS_BY_MODULE = {"neondoctor.db": {"pool_pre_ping": True}, "neondoctor.app.db": {"pool_pre_ping": True}}
_UNKNOWN = object()


@dataclass(frozen=True)
class EngineSettings:
    where: str
    pre_ping: bool | None  # None: cannot be told without running the app (a variable, **kwargs)
    recycle: float | None  # seconds; None or -1: never
    pool_size: int | None
    max_overflow: int | None
    timeout: float | None

    def describe(self) -> str:
        ping = "unknown (not a literal)" if self.pre_ping is None else str(self.pre_ping)
        parts = [f"pool_pre_ping={ping}", f"pool_recycle={self.recycle if self.recycle is not None else -1}"]
        if self.pool_size is not None:
            parts.append(f"pool_size={self.pool_size}")
        if self.max_overflow is not None:
            parts.append(f"max_overflow={self.max_overflow}")
        if self.timeout is not None:
            parts.append(f"pool_timeout={self.timeout:g}")
        return f"{self.where}: " + ", ".join(parts)


def from_object(ref: str, cwd: Path, timeout: float = 5.0) -> EngineSettings:
    """Import the app's engine, sessionmaker or pool (bounded; user code cannot end the command) and read it."""
    from neondoctor.app.introspect import NotAPool, describe_pool
    from neondoctor.loader import load_object

    def describe(obj: Any) -> Any:  # Engine, AsyncEngine, sessionmaker, psycopg_pool or asyncpg pool
        try:
            return describe_pool(obj)
        except NotAPool:
            if not callable(obj):
                raise
            return describe_pool(obj())  # a factory: user code too, so it runs under the same deadline

    d = load_object(ref, what="--engine", timeout=timeout, cwd=cwd, finish=describe)
    return EngineSettings(
        where=f"engine {ref} ({d.pool_class})",
        pre_ping=bool(d.pre_ping),
        recycle=d.recycle,
        pool_size=d.min_size,
        max_overflow=d.max_overflow if d.max_overflow is not None or d.max_size is None or d.min_size is None
        else d.max_size - d.min_size,
        timeout=d.timeout,
    )


def _python_files(root: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS)
        found.extend(Path(dirpath) / f for f in sorted(filenames) if f.endswith(".py"))
        if len(found) >= MAX_FILES:
            break
    return found[:MAX_FILES]


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return _UNKNOWN


def _number(value: Any) -> float | None:
    if value is _UNKNOWN or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _factory_names(tree: ast.Module) -> dict[str, str]:
    """Local name -> the module it was imported from, for every create_engine-like import."""
    names = {name: "sqlalchemy" for name in FACTORIES}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if alias.name in FACTORIES:
                    names[alias.asname or alias.name] = node.module
    return names


def engine_calls(source: str, where: str) -> list[EngineSettings]:
    """The create_engine(...) calls of one file's source, read from its syntax tree."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []  # not Python we can read: no evidence either way
    names = _factory_names(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in names:
            module = names[func.id]
        elif isinstance(func, ast.Attribute) and func.attr in FACTORIES:
            module = ast.unparse(func.value)
        else:
            continue
        kw: dict[str, Any] = dict(DEFAULTS_BY_MODULE.get(module, {}))
        spread = False
        for keyword in node.keywords:
            if keyword.arg is None:  # **kwargs: any setting may come from there
                spread = True
            else:
                kw[keyword.arg] = _literal(keyword.value)
        ping = kw.get("pool_pre_ping", _UNKNOWN if spread else False)
        size, overflow = _number(kw.get("pool_size")), _number(kw.get("max_overflow"))
        found.append(EngineSettings(
            where=f"create_engine at {where}:{node.lineno}",
            pre_ping=ping if isinstance(ping, bool) else (None if ping is _UNKNOWN else bool(ping)),
            recycle=_number(kw.get("pool_recycle")),
            pool_size=int(size) if size is not None else None,
            max_overflow=int(overflow) if overflow is not None else None,
            timeout=_number(kw.get("pool_timeout")),
        ))
    return sorted(found, key=lambda e: int(e.where.rsplit(":", 1)[1]))


def from_source(root: Path) -> list[EngineSettings]:
    found = []
    for path in _python_files(root):
        try:
            if path.stat().st_size > MAX_FILE_BYTES or not path.is_file():
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if "_engine" in text:  # cheap pre-filter: most files hold no engine
            found.extend(engine_calls(text, str(path.relative_to(root))))
    return found


def engines(ctx: ProbeContext) -> tuple[list[EngineSettings], str | None]:
    if ctx.engine_ref:
        # A failing --engine import is a configuration error (exit 2), never evidence for a verdict.
        return [from_object(ctx.engine_ref, ctx.cwd, ctx.timeout)], None
    found = from_source(ctx.cwd)
    if not found:
        return [], f"no --engine given and no create_engine( call found under {ctx.cwd}"
    return found, None


def run(ctx: ProbeContext, params: dict[str, Any]) -> ProbeResult:
    check = params.get("check", "pre_ping")
    found, err = engines(ctx)
    if err:
        return ProbeResult.inconclusive(f"{err}: pass --engine module:attr to read the app's engine")
    described = "; ".join(e.describe() for e in found[:3])
    if check == "pre_ping":
        # A positive pool_recycle below the server/proxy idle limits also keeps connections fresh.
        bad = [e for e in found if e.pre_ping is False]
        if not bad and any(e.pre_ping is None for e in found):
            return ProbeResult.inconclusive(f"pool_pre_ping is not a literal in the source, so it cannot be read "
                                            f"without running the app: {described}; pass --engine module:attr")
        if bad:
            return ProbeResult.confirmed(f"pool_pre_ping is off, so the pool hands out connections the server has "
                                         f"already closed: {described}")
        return ProbeResult.ruled_out(f"pool_pre_ping is on: {described}")
    if check == "pool_capacity":
        minimum = int(params.get("min_capacity", 5))
        small = [e for e in found if e.pool_size is not None
                 and e.pool_size + max(e.max_overflow or 0, 0) < minimum]
        if small:
            return ProbeResult.confirmed(f"the pool holds fewer than {minimum} connections: {described}")
        return ProbeResult.ruled_out(f"pool capacity is at least {minimum}: {described}")
    return ProbeResult.inconclusive(f"unknown engine check {check!r}")


PROBE = Probe(id="engine", summary="the app's engine settings (pre-ping, recycle, pool size)", run=run,
              params={"check": Param(str, CHECKS, help="what to read (default pre_ping)"),
                      "min_capacity": Param(int, help="for pool_capacity: the fewest connections acceptable (default 5)")})
