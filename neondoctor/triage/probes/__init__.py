"""Probes: one small module each, found by the registry below. Runbook steps name them by id.

A probe module defines `PROBE = Probe(id=..., summary=..., run=..., params=...)` at its end; its id
is its module's name, so a step's `probe: tcp` names the file to read (probes/tcp.py). Adding a
probe is adding a module here (copy tcp.py) and its test (copy tests/probes/test_tcp.py): nothing
to register. Parameters are declared on the probe (`Param` in base.py) and checked when a runbook
is validated.

The registry is lazy: a probe module is imported only when its probe runs or when a runbook is
validated (a runbook served from the cache is not), so `triage --no-probes` imports none.
Each probe is bounded in time, read-only, and opens at most one connection (via neondoctor.connect).
Heavy modules (psycopg2, sqlalchemy) are imported inside the probe functions only.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

from neondoctor.errors import ConfigError
from neondoctor.triage.probes.base import Probe

NOT_PROBES = frozenset({"base"})  # modules of this package that hold no probe


@cache
def probe_modules() -> tuple[str, ...]:
    """The names of this package's probe modules, read from the directory (nothing is imported)."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)
                        if not m.ispkg and not m.name.startswith("_") and m.name not in NOT_PROBES))


@cache
def load_probe(name: str) -> Probe:
    """The PROBE of module `name`; a module without one, or with another id, is a bug and fails loudly."""
    module = importlib.import_module(f"{__name__}.{name}")
    probe = getattr(module, "PROBE", None)
    if not isinstance(probe, Probe):
        raise TypeError(f"{module.__name__} defines no `PROBE = Probe(...)`")
    if probe.id != name:
        raise TypeError(f"{module.__name__}: PROBE.id is {probe.id!r}; a probe's id is its module's name")
    return probe


def registry() -> dict[str, Probe]:
    """Every probe by its own id, the walk's own (target) included."""
    return {name: load_probe(name) for name in probe_modules()}


def runbook_probes() -> dict[str, Probe]:
    """The probes a runbook step may name, by id."""
    return {pid: probe for pid, probe in registry().items() if probe.in_runbooks}


def get_probe(probe_id: str) -> Probe:
    if probe_id in probe_modules() and (probe := load_probe(probe_id)).in_runbooks:
        return probe
    raise ConfigError(f"unknown probe {probe_id!r} (known: {', '.join(sorted(runbook_probes()))})")


def __getattr__(name: str) -> Any:
    # `PROBES` stays importable as before, built on first use rather than at import.
    if name == "PROBES":
        return runbook_probes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
