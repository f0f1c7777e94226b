"""Can the app's interpreter import the driver the URL names (or the one SQLAlchemy would pick)?

The app's interpreter is --python, VIRTUAL_ENV or ./.venv when there is one (`neondoctor.appenv`),
else neondoctor's own; modules are found with importlib.util.find_spec, so this works when no
driver at all is importable.
"""

from __future__ import annotations

from typing import Any

from neondoctor import drivers
from neondoctor.errors import ConfigError
from neondoctor.triage.probes.base import Probe, ProbeContext, ProbeResult, need_url


def run(ctx: ProbeContext, params: dict[str, Any]) -> ProbeResult:
    from neondoctor.appenv import app_env

    if (missing := need_url(ctx)) is not None:
        return missing
    url = ctx.parsed
    assert url is not None
    try:
        env = app_env(ctx.python, cwd=ctx.cwd, timeout=max(ctx.timeout, 10))
    except ConfigError as exc:
        return ProbeResult.inconclusive(f"cannot ask the app's interpreter: {exc}")
    where = "neondoctor's environment" if env.own else f"the app's environment, {env.describe()}"
    choice = drivers.choose(url, None if env.own else (env.sqlalchemy_version or ""), where=where)
    known = choice.driver
    if known is None:
        return ProbeResult.confirmed(f"SQLAlchemy has no PostgreSQL driver {choice.name!r} (known: "
                                     f"{', '.join(drivers.DRIVERS)})")
    if not env.has_driver(choice.name):
        return ProbeResult.confirmed(f"driver {choice.name} ({choice.reason}) is not importable in {where}: "
                                     f"no module {known.module!r} (pip install {known.package})")
    if known.is_async and not env.modules.get("greenlet", False):
        return ProbeResult.confirmed(f"driver {choice.name} is importable but SQLAlchemy's asyncio needs greenlet, "
                                     f"which is missing in {where} (pip install 'sqlalchemy[asyncio]')")
    version = env.versions.get(known.module)
    shown = f"{known.label} {version}" if version else known.label
    return ProbeResult.ruled_out(f"driver {choice.name} ({choice.reason}) is importable in {where}: {shown}")


PROBE = Probe(id="driver", summary="the URL's driver is importable in the app's interpreter", run=run)
