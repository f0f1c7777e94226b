"""Is the database at the Alembic head? Read-only: the scripts are read, no migration runs.

`--alembic PATH` is an alembic.ini, a directory holding one, or the script directory itself (the one
with env.py and versions/). The heads come from Alembic's ScriptDirectory, the database's revision
from its MigrationContext (a SELECT on the version table). env.py is never executed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from neondoctor.errors import ConfigError
from neondoctor.sanity.report import StepFailed

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory
    from sqlalchemy import Connection


def load_scripts(path: str) -> tuple[ScriptDirectory, str]:
    """The script directory and the version table named by PATH (ConfigError on a mistake)."""
    try:
        from alembic.config import Config
        from alembic.script import ScriptDirectory
        from alembic.util.exc import CommandError
    except ImportError:
        raise ConfigError("--alembic needs Alembic: pip install 'neondoctor[alembic]'") from None
    given = Path(path).expanduser()
    if not given.exists():
        raise ConfigError(f"--alembic {path}: no such file or directory")
    ini = given / "alembic.ini" if given.is_dir() else given
    try:
        if ini.is_file():
            config = Config(str(ini))
            location = config.get_main_option("script_location")
            if not location:
                raise ConfigError(f"--alembic {path}: {ini} has no script_location in [alembic]")
            if not Path(location).is_absolute() and not Path(location).exists():
                # Alembic resolves it from the current directory; a CI step may run elsewhere.
                config.set_main_option("script_location", str(ini.parent / location))
            version_table = config.get_main_option("version_table") or "alembic_version"
            return ScriptDirectory.from_config(config), version_table
        if (given / "env.py").is_file():
            return ScriptDirectory(str(given)), "alembic_version"
    except CommandError as exc:
        raise ConfigError(f"--alembic {path}: {exc}") from None
    raise ConfigError(f"--alembic {path}: neither an alembic.ini nor a directory with alembic.ini or env.py")


def check_head(conn: Connection, scripts: ScriptDirectory, version_table: str = "alembic_version") -> str:
    """One line saying the database is at the head; raises MigrationMismatch saying why not."""
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect

    heads = tuple(scripts.get_heads())
    if not heads:
        raise MigrationMismatch("the migration scripts hold no revision")
    if len(heads) > 1:
        raise MigrationMismatch(f"the migration scripts have {len(heads)} heads ({', '.join(sorted(heads))}): "
                                "merge them (alembic merge heads) before deploying")
    head = heads[0]
    context = MigrationContext.configure(conn, opts={"version_table": version_table})
    if not inspect(conn).has_table(version_table):
        raise MigrationMismatch(f"the database is unversioned (no {version_table} table); head is {head}: "
                                "run `alembic upgrade head`, or `alembic stamp head` if the schema was made another way")
    current = tuple(context.get_current_heads())
    if current == (head,):
        return f"database at the head revision {head}"
    if not current:
        raise MigrationMismatch(f"the database has an empty {version_table} table (no revision); head is {head}: "
                                "run `alembic upgrade head`")
    known = {rev: scripts.get_revision(rev) if _exists(scripts, rev) else None for rev in current}
    unknown = [rev for rev, script in known.items() if script is None]
    if unknown:
        raise MigrationMismatch(f"database at revision {', '.join(unknown)}, which the migration scripts do not know "
                                f"(head is {head}): deployed from another branch, or scripts missing")
    behind = _count_behind(scripts, head, current)
    ago = f" ({behind} revision{'s' if behind != 1 else ''} behind)" if behind else ""
    raise MigrationMismatch(f"database at revision {', '.join(current)}, head is {head}{ago}: "
                            "run `alembic upgrade head` before this deploy")


class MigrationMismatch(StepFailed):
    """The database is not at the head revision."""


def _exists(scripts: ScriptDirectory, rev: str) -> bool:
    try:
        return scripts.get_revision(rev) is not None
    except Exception:  # alembic raises its own ResolutionError for an unknown id
        return False


def _count_behind(scripts: ScriptDirectory, head: str, current: tuple[str, ...]) -> int:
    for count, script in enumerate(scripts.walk_revisions(base="base", head=head)):
        if script.revision in current:
            return count
    return 0
