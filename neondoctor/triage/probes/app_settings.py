"""What the app sends through a transaction-mode pooler: prepared statements and startup parameters.

The settings are read from the URL and, statically, from the project's Python code with Python's own
parser (keyword arguments and dict literals, so comments and strings never count):
asyncpg `statement_cache_size=0` / SQLAlchemy `prepared_statement_cache_size=0`, psycopg 3
`prepare_threshold=None`; startup parameters in `options`, asyncpg `server_settings`, `connect_args`.
Whether the URL is pooled comes from the pooler probe's look (one bounded connection at most).

check=prepared_statements  confirmed when the URL is pooled, the pooler keeps no protocol-level
                           prepared statements, and nothing in the app turns the driver's off
check=startup_parameters   confirmed when the URL is pooled and the app sends parameters the
                           pooler does not track
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neondoctor import pooler
from neondoctor.triage.probes import pooler as pooler_probe
from neondoctor.triage.probes.base import Param, Probe, ProbeContext, ProbeResult, need_url

CHECKS = ("prepared_statements", "startup_parameters")
_CACHE_OFF = {"statement_cache_size": 0, "prepared_statement_cache_size": 0}
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "site-packages", ".tox"}
_MAX_FILES = 2000


@dataclass
class AppSettings:
    cache_off: list[str] = field(default_factory=list)  # where the driver's statement cache is turned off
    startup: list[str] = field(default_factory=list)  # untracked startup parameters and where they are set


def _literal(node: ast.AST) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return ...


def _read_pairs(node: ast.AST) -> list[tuple[str, ast.AST]]:
    """(name, value) of every keyword argument and every str-keyed dict entry."""
    if isinstance(node, ast.Call):
        return [(kw.arg, kw.value) for kw in node.keywords if kw.arg]
    if isinstance(node, ast.Dict):
        return [(k.value, v) for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    return []


def scan_source(text: str, where: str, into: AppSettings) -> None:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return
    for node in ast.walk(tree):
        for name, value in _read_pairs(node):
            line = f"{where}:{getattr(value, 'lineno', '?')}"
            if name in _CACHE_OFF and _literal(value) == 0:
                into.cache_off.append(f"{name}=0 ({line})")
            elif name == "prepare_threshold" and _literal(value) is None:
                into.cache_off.append(f"prepare_threshold=None ({line})")
            elif name == "server_settings" and isinstance(found := _literal(value), dict):
                into.startup += [f"server_settings {k}={v} ({line})" for k, v in found.items()
                                 if str(k).lower() not in pooler.TRACKED_PARAMETERS]
            elif name == "options" and isinstance(found := _literal(value), str) and "=" in found:
                into.startup += [f"options {k}={v} ({line})" for k, v in pooler.options_parameters(found)
                                 if k not in pooler.TRACKED_PARAMETERS and k not in pooler.PROXY_OPTIONS]


def _python_files(root: Path) -> list[Path]:
    out: list[Path] = []
    for path in sorted(root.rglob("*.py")):
        if any(part in _SKIP_DIRS for part in path.relative_to(root).parts):
            continue
        out.append(path)
        if len(out) >= _MAX_FILES:
            break
    return out


def read_app(ctx: ProbeContext) -> AppSettings:
    found = AppSettings()
    assert ctx.parsed is not None
    query = ctx.parsed.query
    if query.get("prepared_statement_cache_size") == "0":
        found.cache_off.append("prepared_statement_cache_size=0 (DATABASE_URL)")
    found.startup += [f"options {p} (DATABASE_URL)" for p in pooler.untracked_startup_parameters(ctx.parsed)]
    for path in _python_files(ctx.cwd):
        try:
            if path.stat().st_size > 2_000_000:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        scan_source(text, str(path.relative_to(ctx.cwd)), found)
    return found


def _pooled(ctx: ProbeContext) -> tuple[bool | None, pooler_probe.Sighting | None, str]:
    assert ctx.parsed is not None
    guess = pooler.guess(ctx.parsed)
    if guess.kind == "neon":
        return True, None, guess.reason
    seen = pooler_probe.look(ctx)
    pooled = seen.pgbouncer if seen.pgbouncer is not None else (guess.pooled or None)
    return pooled, seen, "; ".join(filter(None, [guess.reason if guess.pooled else "", seen.evidence]))


def run(ctx: ProbeContext, params: dict[str, Any]) -> ProbeResult:
    if (missing := need_url(ctx)) is not None:
        return missing
    check = params.get("check", "prepared_statements")
    app = read_app(ctx)
    pooled, seen, how = _pooled(ctx)
    if pooled is False:
        return ProbeResult.ruled_out(f"the URL connects to the server directly ({how})")
    if pooled is None:
        return ProbeResult.inconclusive(f"cannot tell whether the URL goes through a pooler: {how}")
    if check == "startup_parameters":
        if app.startup:
            return ProbeResult.confirmed(f"pooled ({how}); the app sends startup parameters a transaction-mode pooler "
                                         f"does not track: {', '.join(app.startup[:5])}")
        return ProbeResult.ruled_out(f"pooled ({how}), but no untracked startup parameter was found in "
                                     "DATABASE_URL or the code")
    if seen is None:  # Neon's pooler keeps protocol-level prepared statements (PgBouncer 1.22+)
        return ProbeResult.ruled_out(f"{how}: Neon's pooler keeps protocol-level prepared statements; "
                                     "look for SQL-level PREPARE or a psycopg 3 built with libpq older than 17")
    supported, why = pooler_probe.supports_prepared(seen)
    if supported:
        return ProbeResult.ruled_out(f"pooled ({how}); {why}: the pooler keeps protocol-level prepared statements")
    if app.cache_off:
        return ProbeResult.ruled_out(f"pooled ({how}), and the app turns named prepared statements off: "
                                     f"{', '.join(app.cache_off[:3])}")
    pooler_side = why if supported is False else "its prepared-statement support could not be read"
    return ProbeResult.confirmed(f"pooled ({how}); {pooler_side}; nothing in DATABASE_URL or the code turns the "
                                 "driver's named prepared statements off (asyncpg statement_cache_size=0, SQLAlchemy "
                                 "prepared_statement_cache_size=0, psycopg prepare_threshold=None)")


PROBE = Probe(id="app_settings", summary="prepared statements and startup parameters the app sends through a pooler",
              run=run, params={"check": Param(str, CHECKS, help="what to look for (default prepared_statements)")})
