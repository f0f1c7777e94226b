"""The app's Python environment: which drivers, SQLAlchemy and libpq the app itself would load.

neondoctor is often installed as a tool (`uv tool install`, `pipx`), in an environment of its own;
what matters for a URL is the app's interpreter. `--python PATH` names it; otherwise `VIRTUAL_ENV`,
then a `.venv` in the working directory; otherwise neondoctor's own interpreter is used, and the
output says which. The other interpreter is asked by a small script, run isolated (`-I`: no user
site, no cwd on sys.path, no PYTHON* variables) with a time bound; it finds modules without
importing them, except the installed drivers it reads a libpq version from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neondoctor import drivers
from neondoctor.errors import ConfigError

PROBE_TIMEOUT = 15.0  # seconds for the other interpreter to start and answer

# Runs in the app's interpreter: standard library only; prints one JSON document.
PROBE_SCRIPT = r"""
import importlib.util, json, sys
from importlib import metadata
def version(dist):
    try:
        return metadata.version(dist)
    except Exception:
        return None
def found(module):
    try:
        return importlib.util.find_spec(module) is not None
    except Exception:
        return False
out = {"python": sys.version.split()[0], "executable": sys.executable, "modules": {}, "versions": {}, "libpq": {}}
for module, dists in (("psycopg2", ("psycopg2-binary", "psycopg2")), ("psycopg", ("psycopg",)),
                      ("asyncpg", ("asyncpg",)), ("pg8000", ("pg8000",)), ("psycopg2cffi", ("psycopg2cffi",)),
                      ("sqlalchemy", ("sqlalchemy",)), ("greenlet", ("greenlet",))):
    out["modules"][module] = found(module)
    if out["modules"][module]:
        out["versions"][module] = next((v for v in map(version, dists) if v), None)
try:
    if out["modules"]["psycopg2"]:
        import psycopg2.extensions
        out["libpq"]["psycopg2"] = int(psycopg2.extensions.libpq_version())
except Exception:
    pass
try:
    if out["modules"]["psycopg"]:
        import psycopg
        out["libpq"]["psycopg"] = int(psycopg.pq.version())
except Exception:
    pass
print(json.dumps(out))
"""


@dataclass(frozen=True)
class AppEnv:
    """What one interpreter has: modules found, their versions, libpq per libpq driver."""

    python: str  # the interpreter's path
    source: str  # how it was chosen: "--python", "VIRTUAL_ENV", ".venv in the working directory", "neondoctor's own"
    modules: dict[str, bool] = field(default_factory=dict)
    versions: dict[str, str | None] = field(default_factory=dict)
    libpq: dict[str, int] = field(default_factory=dict)

    @property
    def own(self) -> bool:
        return self.source == "neondoctor's own"

    @property
    def sqlalchemy_version(self) -> str | None:
        return self.versions.get("sqlalchemy") if self.modules.get("sqlalchemy") else None

    def has_driver(self, name: str) -> bool:
        driver = drivers.get(name)
        return bool(self.modules.get(driver.module if driver else name))

    def libpq_for(self, name: str) -> int | None:
        driver = drivers.get(name)
        return self.libpq.get(driver.family) if driver and driver.libpq else None

    def describe(self) -> str:
        return f"{self.python} ({self.source})"

    def to_json(self) -> dict[str, Any]:
        return {"python": self.python, "source": self.source, "sqlalchemy": self.sqlalchemy_version,
                "drivers": {name: self.versions.get(name) for name in ("psycopg2", "psycopg", "asyncpg", "pg8000")
                            if self.modules.get(name)},
                "libpq": {k: drivers.libpq_text(v) for k, v in self.libpq.items()}}


def own_env() -> AppEnv:
    """neondoctor's own interpreter, read in-process (nothing is imported but the libpq drivers' version)."""
    modules = {m: drivers.installed(m) for m in ("psycopg2", "psycopg", "asyncpg", "pg8000", "psycopg2cffi",
                                                  "sqlalchemy", "greenlet")}
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for module, dist in (("psycopg2", "psycopg2-binary"), ("psycopg", "psycopg"), ("asyncpg", "asyncpg"),
                         ("pg8000", "pg8000"), ("sqlalchemy", "sqlalchemy")):
        if modules[module]:
            try:
                versions[module] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                versions[module] = None
    libpq = {f: v for f in ("psycopg2", "psycopg") if (v := drivers.libpq_version(f)) is not None}
    return AppEnv(sys.executable, "neondoctor's own", modules, versions, libpq)


def find_python(explicit: str | None, *, cwd: Path | None = None,
                environ: dict[str, str] | None = None) -> tuple[str, str] | None:
    """(interpreter, how it was found): --python, then VIRTUAL_ENV, then ./.venv; None for neondoctor's own."""
    env = os.environ if environ is None else environ
    if explicit:
        return _interpreter(Path(explicit)), "--python"
    candidates = []
    if env.get("VIRTUAL_ENV"):
        candidates.append((Path(env["VIRTUAL_ENV"]), "VIRTUAL_ENV"))
    candidates.append(((cwd or Path.cwd()) / ".venv", ".venv in the working directory"))
    for root, source in candidates:
        for sub in ("bin/python", "Scripts/python.exe"):
            path = root / sub
            if path.exists():
                if _same_interpreter(path):
                    return None
                return str(path), source
    return None


def _interpreter(path: Path) -> str:
    if path.is_dir():  # a virtualenv's root was given
        for sub in ("bin/python", "Scripts/python.exe"):
            if (path / sub).exists():
                return str(path / sub)
        raise ConfigError(f"--python {path}: a directory without bin/python")
    if not path.exists():
        raise ConfigError(f"--python {path}: no such file")
    if not os.access(path, os.X_OK):
        raise ConfigError(f"--python {path}: not executable")
    return str(path)


def _same_interpreter(path: Path) -> bool:
    try:
        return Path(sys.prefix).resolve() == path.parent.parent.resolve()
    except OSError:
        return False


def probe_python(python: str, source: str, *, timeout: float = PROBE_TIMEOUT) -> AppEnv:
    """Ask `python` what it has (isolated, bounded). ConfigError when it cannot answer."""
    try:
        proc = subprocess.run([python, "-I", "-c", PROBE_SCRIPT], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, env={"PATH": os.environ.get("PATH", "")})
    except subprocess.TimeoutExpired:
        raise ConfigError(f"{python} ({source}) did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise ConfigError(f"cannot run {python} ({source}): {exc.strerror or exc}") from None
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = " ".join(proc.stderr.strip().splitlines()[-2:])[:300]
        raise ConfigError(f"{python} ({source}) is not a Python 3 interpreter neondoctor can ask: "
                          f"exit {proc.returncode} {tail}") from None
    return AppEnv(python, source, {k: bool(v) for k, v in data.get("modules", {}).items()},
                  dict(data.get("versions", {})), {k: int(v) for k, v in data.get("libpq", {}).items()})


def app_env(explicit: str | None = None, *, cwd: Path | None = None, timeout: float = PROBE_TIMEOUT) -> AppEnv:
    """The app's environment: the interpreter found by `find_python`, or neondoctor's own."""
    found = find_python(explicit, cwd=cwd)
    if found is None:
        return own_env()
    return probe_python(*found, timeout=timeout)
