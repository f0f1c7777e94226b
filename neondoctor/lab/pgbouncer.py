"""A real PgBouncer in front of a lab cluster, in transaction mode, configured like Neon's pooler.

Neon's pooler is PgBouncer with `pool_mode=transaction`, `max_client_conn=10000`,
`default_pool_size` = 0.9 x the compute's `max_connections` per user/database pair,
`max_prepared_statements=1000` and `query_wait_timeout=120`. The lab reproduces that shape (and,
for a fault, a smaller version of it) with the PgBouncer of the operating system: Debian and Ubuntu
ship it in sbin (`apt-get install pgbouncer`), Homebrew on PATH. Settings the installed version
does not know (`max_prepared_statements` before 1.21) are left out and reported.

Clients authenticate with SCRAM against the roles' SCRAM secrets, read from the server, so no
plain-text password is written to the pooler's files; PgBouncer reuses the client's SCRAM proof to
log in to the server, as Neon's pooler does. As root, PgBouncer runs as the lab's unprivileged user.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neondoctor.errors import LabError
from neondoctor.lab import process
from neondoctor.lab.owned import accepts
from neondoctor.pooler import ADMIN_DATABASE

if TYPE_CHECKING:
    from neondoctor.lab.cluster import LabCluster

POOLER_DIR = "pgbouncer"
STATE_FILE = "pooler.json"
INSTALL_HINT = ("PgBouncer was not found: install it (Debian/Ubuntu: `apt-get install pgbouncer`; "
                "macOS: `brew install pgbouncer`) or set NEONDOCTOR_PGBOUNCER to its path")
_SBIN = ("/usr/sbin/pgbouncer", "/usr/local/sbin/pgbouncer", "/usr/local/bin/pgbouncer",
         "/opt/homebrew/bin/pgbouncer", "/opt/homebrew/sbin/pgbouncer")


@dataclass(frozen=True)
class PgBouncerInstall:
    path: str
    version: tuple[int, int, int]

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))

    @property
    def supports_prepared_statements(self) -> bool:
        """Protocol-level prepared statements in transaction mode (`max_prepared_statements`, 1.21+)."""
        return self.version >= (1, 21, 0)


def find_pgbouncer() -> PgBouncerInstall | None:
    """NEONDOCTOR_PGBOUNCER, PATH, then the usual sbin directories; None when there is none."""
    candidates = [os.environ.get("NEONDOCTOR_PGBOUNCER"), shutil.which("pgbouncer"), *_SBIN]
    for path in filter(None, candidates):
        if not os.access(path, os.X_OK):
            continue
        try:
            out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        if m := re.search(r"PgBouncer (\d+)\.(\d+)\.(\d+)", out):
            return PgBouncerInstall(path, (int(m[1]), int(m[2]), int(m[3])))
    return None


@dataclass
class PoolerSpec:
    """Neon's pooler by default; a fault makes one setting small."""

    pool_mode: str = "transaction"
    max_client_conn: int = 10000
    default_pool_size: int | None = None  # None: 0.9 x the server's max_connections, as Neon
    max_prepared_statements: int = 1000  # left out (and reported) before PgBouncer 1.21
    query_wait_timeout: int = 120
    server_login_retry: int = 15
    settings: dict[str, str] = field(default_factory=dict)  # any other [pgbouncer] setting

    def conf(self, install: PgBouncerInstall, server_max_connections: int) -> tuple[dict[str, str], list[str]]:
        """The [pgbouncer] settings this install accepts, and notes on what it had to leave out."""
        pool = self.default_pool_size or max(1, int(server_max_connections * 0.9))
        conf = {
            "pool_mode": self.pool_mode,
            "max_client_conn": str(self.max_client_conn),
            "default_pool_size": str(pool),
            "query_wait_timeout": str(self.query_wait_timeout),
            "server_login_retry": str(self.server_login_retry),
        }
        notes = []
        if install.supports_prepared_statements:
            conf["max_prepared_statements"] = str(self.max_prepared_statements)
        else:
            notes.append(f"PgBouncer {install.version_text} predates max_prepared_statements (1.21): "
                         "protocol-level prepared statements fail in transaction mode, as on poolers before 1.21")
        conf.update(self.settings)
        return conf, notes


@dataclass
class PoolerState:
    path: str
    version: str
    port: int
    spec: dict[str, Any]
    notes: list[str]
    run_dir: str  # pgbouncer.ini, userlist, log, pid: readable by the server user


class LabPooler:
    """PgBouncer for one lab cluster; its files live in `<lab root>/pgbouncer/` and nowhere else."""

    def __init__(self, cluster: LabCluster, state: PoolerState) -> None:
        self.cluster = cluster
        self.state = state

    @staticmethod
    def dir_for(cluster: LabCluster) -> Path:
        return cluster.root / POOLER_DIR

    @classmethod
    def load(cls, cluster: LabCluster) -> LabPooler | None:
        path = cls.dir_for(cluster) / STATE_FILE
        if not path.exists():
            return None
        try:
            return cls(cluster, PoolerState(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError) as exc:
            raise LabError(f"pooler state {path} is unreadable ({type(exc).__name__}); "
                           "run `neondoctor lab down` and `lab up --pooler` again") from None

    @classmethod
    def create(cls, cluster: LabCluster, spec: PoolerSpec | None = None,
               install: PgBouncerInstall | None = None) -> LabPooler:
        """Configure and start PgBouncer in front of a running cluster."""
        install = install or find_pgbouncer()
        if install is None:
            raise LabError(INSTALL_HINT)
        spec = spec or PoolerSpec()
        directory = cls.dir_for(cluster)
        if directory.exists() and not (directory / STATE_FILE).exists():
            raise LabError(f"{directory} exists and was not made by the lab; refusing to touch it")
        cluster.manifest.record(directory)  # the lab's own: `lab down` removes it, and nothing else
        directory.mkdir(mode=0o700, exist_ok=True)
        # As root, root's own directories are closed to the server user: its files go under /tmp, like the data.
        run_dir = Path(tempfile.mkdtemp(prefix="neondoctor-pgbouncer-")) if process.server_user() else directory
        cluster.manifest.record(run_dir)
        _, notes = spec.conf(install, cluster.spec.max_connections)
        state = PoolerState(install.path, install.version_text, process.free_port(), asdict(spec), notes, str(run_dir))
        pooler = cls(cluster, state)
        pooler._write_state()
        pooler.configure()
        pooler.start()
        pooler.write_env()
        return pooler

    @property
    def directory(self) -> Path:
        return self.dir_for(self.cluster)

    @property
    def run_dir(self) -> Path:
        return Path(self.state.run_dir)

    @property
    def port(self) -> int:
        return self.state.port

    @property
    def install(self) -> PgBouncerInstall:
        major, minor, patch = (int(x) for x in self.state.version.split("."))
        return PgBouncerInstall(self.state.path, (major, minor, patch))

    @property
    def spec(self) -> PoolerSpec:
        return PoolerSpec(**self.state.spec)

    def _write_state(self) -> None:
        path = self.directory / STATE_FILE
        path.write_text(json.dumps(asdict(self.state), indent=2) + "\n")

    def write_env(self) -> None:
        """The lab's .env names both URLs as Neon's integrations do: DATABASE_URL pooled, _UNPOOLED direct.
        The cluster writes it (it owns the file and knows this pooler from pooler.json)."""
        self.cluster._write_state()

    def configure(self) -> None:
        """Write pgbouncer.ini and the SCRAM userlist (secrets read from the server, never passwords)."""
        rows = self.cluster.execute(
            "SELECT rolname, rolpassword FROM pg_authid WHERE rolcanlogin AND rolpassword IS NOT NULL")
        userlist = "".join(f'"{name}" "{secret}"\n' for name, secret in rows)
        settings, _ = self.spec.conf(self.install, self.cluster.spec.max_connections)
        base = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(self.port),
            "unix_socket_dir": "",
            "auth_type": "scram-sha-256",
            "auth_file": str(self.run_dir / "userlist.txt"),
            "admin_users": "postgres",
            "stats_users": "postgres",
            "logfile": str(self.run_dir / "pgbouncer.log"),
            "pidfile": str(self.run_dir / "pgbouncer.pid"),
            "ignore_startup_parameters": "extra_float_digits",
        }
        base.update(settings)
        ini = ["[databases]", f"* = host=127.0.0.1 port={self.cluster.port}", "", "[pgbouncer]"]
        ini += [f"{key} = {value}" for key, value in base.items()]
        for name, text, mode in (("userlist.txt", userlist, 0o600), ("pgbouncer.ini", "\n".join(ini) + "\n", 0o600)):
            path = self.run_dir / name
            path.write_text(text)
            path.chmod(mode)
            process.give_to_server(path)
        process.give_to_server(self.run_dir)

    def _pid(self) -> int | None:
        try:
            pid = int((self.run_dir / "pgbouncer.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid

    def is_running(self) -> bool:
        return self._pid() is not None and accepts(self.port, timeout=0.5)

    def start(self) -> None:
        if self.is_running():
            return
        (self.run_dir / "pgbouncer.pid").unlink(missing_ok=True)
        kwargs = process.as_server_user()
        try:
            proc = subprocess.run([self.state.path, "-d", str(self.run_dir / "pgbouncer.ini")],
                                  capture_output=True, text=True, timeout=30, cwd="/",
                                  env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}, **kwargs)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LabError(f"cannot start PgBouncer: {exc}") from None
        if process.wait_until(self.is_running, timeout=15):
            return
        raise LabError(f"PgBouncer did not start (exit {proc.returncode}): {self.log_tail() or proc.stderr.strip()}")

    def stop(self) -> None:
        pid = self._pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)  # immediate shutdown: the lab never needs a graceful one
        process.wait_until(lambda: self._pid() is None, timeout=10)
        if (pid := self._pid()) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def reload(self) -> None:
        """Re-read pgbouncer.ini and the userlist (after a role was created or a setting changed)."""
        self.configure()
        if (pid := self._pid()) is not None:
            os.kill(pid, signal.SIGHUP)

    def destroy(self) -> None:
        self.stop()
        for name in ("pgbouncer.ini", "userlist.txt", "pgbouncer.log", "pgbouncer.pid"):
            (self.run_dir / name).unlink(missing_ok=True)
        (self.directory / STATE_FILE).unlink(missing_ok=True)
        for directory in {self.run_dir, self.directory}:
            with contextlib.suppress(OSError):
                directory.rmdir()

    def log_tail(self, lines: int = 5) -> str:
        return process.log_tail(self.run_dir / "pgbouncer.log", lines)

    def url(self, **kwargs: Any) -> str:
        """The pooled URL of a lab role (the app role by default)."""
        return self.cluster.url(port=self.port, **kwargs)

    def admin_url(self) -> str:
        """The admin console (database `pgbouncer`, as the lab's superuser)."""
        return self.cluster.superuser_url(port=self.port, database=ADMIN_DATABASE)

    def _console(self, command: str) -> list[dict[str, Any]]:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres",
                                password=self.cluster.state.superuser_password, dbname=ADMIN_DATABASE,
                                connect_timeout=5)
        conn.autocommit = True  # the console knows no transactions
        try:
            with conn.cursor() as cur:
                cur.execute(command)
                names = [d[0] for d in cur.description or ()]
                return [dict(zip(names, row, strict=True)) for row in cur.fetchall()] if names else []
        finally:
            conn.close()

    def show(self, what: str) -> list[dict[str, Any]]:
        """SHOW POOLS / STATS / CLIENTS / SERVERS / CONFIG through the admin console."""
        if not re.fullmatch(r"[A-Za-z_]+", what):
            raise ValueError(what)
        return self._console(f"SHOW {what}")

    def set(self, name: str, value: str) -> None:
        """Change a setting at run time through the admin console (SET name = 'value')."""
        if not re.fullmatch(r"[a-z_]+", name) or not re.fullmatch(r"[A-Za-z0-9_.]*", value):
            raise ValueError(name)
        self._console(f"SET {name} = '{value}'")

    def status(self) -> dict[str, Any]:
        return {"running": self.is_running(), "version": self.state.version, "port": self.port,
                "pool_mode": self.spec.pool_mode, "notes": self.state.notes, "database_url": self.url()}

