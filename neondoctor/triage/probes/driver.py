"""Can this interpreter import the driver the URL names (or the one SQLAlchemy would pick)?

Uses importlib.util.find_spec only, so it works when no driver at all is importable.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from neondoctor.triage.probes.base import Probe, ProbeContext, ProbeResult, importable, need_url

# SQLAlchemy driver name -> (module to import, pip package to install)
DRIVER_MODULES: dict[str, tuple[str, str]] = {
    "psycopg2": ("psycopg2", "psycopg2-binary"),
    "psycopg2cffi": ("psycopg2cffi", "psycopg2cffi"),
    "psycopg": ("psycopg", "psycopg[binary]"),
    "psycopg_async": ("psycopg", "psycopg[binary]"),
    "asyncpg": ("asyncpg", "asyncpg"),
    "pg8000": ("pg8000", "pg8000"),
}


def default_driver() -> str:
    """What SQLAlchemy picks for a bare postgresql://: psycopg2 up to 2.0, psycopg (3) from 2.1."""
    from importlib import metadata  # costs ~10 ms: only when a probe asks, never at start-up

    try:
        parts = metadata.version("sqlalchemy").split(".")
        major, minor = int(parts[0]), int(parts[1])
    except (metadata.PackageNotFoundError, ValueError, IndexError):
        return "psycopg2"
    return "psycopg" if (major, minor) >= (2, 1) else "psycopg2"


def run(ctx: ProbeContext, params: dict[str, Any]) -> ProbeResult:
    if (missing := need_url(ctx)) is not None:
        return missing
    url = ctx.parsed
    assert url is not None
    driver = url.driver or default_driver()
    how = "named in the URL" if url.driver else "SQLAlchemy's default for a URL without +driver"
    if driver not in DRIVER_MODULES:
        return ProbeResult.confirmed(f"SQLAlchemy has no PostgreSQL driver {driver!r} (known: "
                                     f"{', '.join(DRIVER_MODULES)})")
    module, package = DRIVER_MODULES[driver]
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return ProbeResult.confirmed(f"driver {driver} ({how}) is not importable here: no module {module!r} "
                                     f"(pip install {package})")
    extra = ""
    if driver in ("asyncpg", "psycopg_async") and not importable("greenlet"):
        return ProbeResult.confirmed(f"driver {driver} is importable but SQLAlchemy's asyncio needs greenlet, "
                                     "which is missing (pip install 'sqlalchemy[asyncio]')")
    return ProbeResult.ruled_out(f"driver {driver} ({how}) is importable from {spec.origin}{extra}")


PROBE = Probe(id="driver", summary="the URL's driver is importable in this interpreter", run=run)
