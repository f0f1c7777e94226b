"""The app's SQLAlchemy engine settings: pool_pre_ping, pool_recycle, pool size/overflow/timeout.

From `--engine module:attr` (the engine object itself), else a static read of the create_engine(...)
calls in the working directory's *.py files (nothing of the app is imported then).
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neondoctor.triage.probes.base import Probe, ProbeContext, ProbeResult, first_line

SKIP_DIRS = {"node_modules", "site-packages", "__pycache__", "venv", "env", "build", "dist"}
MAX_FILES = 2000


@dataclass(frozen=True)
class EngineSettings:
    where: str
    pre_ping: bool
    recycle: float | None  # seconds; None or -1: never
    pool_size: int | None
    max_overflow: int | None
    timeout: float | None

    def describe(self) -> str:
        parts = [f"pool_pre_ping={self.pre_ping}", f"pool_recycle={self.recycle if self.recycle is not None else -1}"]
        if self.pool_size is not None:
            parts.append(f"pool_size={self.pool_size}")
        if self.max_overflow is not None:
            parts.append(f"max_overflow={self.max_overflow}")
        if self.timeout is not None:
            parts.append(f"pool_timeout={self.timeout:g}")
        return f"{self.where}: " + ", ".join(parts)


def from_object(ref: str, cwd: Path) -> EngineSettings:
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ValueError(f"--engine must be module:attr, got {ref!r}")
    if str(cwd) not in sys.path:
        sys.path.insert(0, str(cwd))
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    from neondoctor.app.introspect import NotAPool, describe_pool

    try:  # Engine, AsyncEngine, sessionmaker, psycopg_pool or asyncpg pool
        d = describe_pool(obj)
    except NotAPool:
        if not callable(obj):
            raise
        d = describe_pool(obj())  # a factory such as get_engine()
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


def _call_text(text: str, start: int) -> str:
    depth = 0
    for i in range(start, min(len(text), start + 5000)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return text[start:i + 1]
    return text[start:start + 5000]


def _kw(call: str, name: str) -> str | None:
    m = re.search(rf"\b{name}\s*=\s*([^,\)\s]+)", call)
    return m.group(1) if m else None


def _num(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def from_source(root: Path) -> list[EngineSettings]:
    found = []
    for path in _python_files(root):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for m in re.finditer(r"\bcreate(?:_async)?_engine\s*\(", text):
            call = _call_text(text, m.end() - 1)
            line = text.count("\n", 0, m.start()) + 1
            size, overflow = _num(_kw(call, "pool_size")), _num(_kw(call, "max_overflow"))
            found.append(EngineSettings(
                where=f"create_engine at {path.relative_to(root)}:{line}",
                pre_ping=_kw(call, "pool_pre_ping") == "True",
                recycle=_num(_kw(call, "pool_recycle")),
                pool_size=int(size) if size is not None else None,
                max_overflow=int(overflow) if overflow is not None else None,
                timeout=_num(_kw(call, "pool_timeout")),
            ))
    return found


def engines(ctx: ProbeContext) -> tuple[list[EngineSettings], str | None]:
    if ctx.engine_ref:
        try:
            return [from_object(ctx.engine_ref, ctx.cwd)], None
        except Exception as exc:  # the app's own import errors are evidence, not a crash
            return [], f"could not load --engine {ctx.engine_ref}: {type(exc).__name__}: {first_line(exc)}"
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
        bad = [e for e in found if not e.pre_ping]
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
              params={"check": str, "min_capacity": int})
