"""A throwaway local PostgreSQL cluster, optionally configured to reproduce a fault.

The CLI (`neondoctor lab`) and the test suite use this same code, so what the README demonstrates
and what the tests prove cannot drift apart. `LabCluster` is the façade; each job has its module:

- install: the server binaries;             spec: what the cluster is configured to reproduce;
- datadir: initdb, settings, certificates;  process: running the server programs (as `nobody`
  when root, NEONDOCTOR_LAB_USER), bounded;
- state: lab.json, the 0600 .env, URLs;     admin: the superuser's SQL (roles, the app database);
- owned: which files are the lab's own (the lab never writes or deletes anything else).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from neondoctor.errors import LabError
from neondoctor.lab import admin, datadir, process
from neondoctor.lab.install import PgInstall, find_install, find_installs
from neondoctor.lab.owned import MARKER, Manifest, accepts, is_postmaster, postmaster_pid
from neondoctor.lab.process import free_port, wait_until
from neondoctor.lab.spec import LabSpec
from neondoctor.lab.state import (
    APP_DATABASE,
    APP_USER,
    ENV_FILE,
    STATE_FILE,
    SUPERUSER,
    LabState,
    adopt_legacy,
    default_root,
    env_text,
    make_url,
    read_state,
    recover_passwords,
)
from neondoctor.redaction import register_secret

# Re-exported: the lab's public names stay importable from here.
__all__ = ["APP_DATABASE", "APP_USER", "SUPERUSER", "LabCluster", "LabSpec", "LabState", "PgInstall",
           "default_root", "find_install", "find_installs", "free_port", "make_url", "temporary_cluster",
           "wait_until"]


class LabCluster:
    """One cluster: metadata under `root`, data in `state.data_dir`."""

    def __init__(self, root: Path, state: LabState, manifest: Manifest) -> None:
        self.root = root
        self.state = state
        self.manifest = manifest
        register_secret(state.superuser_password)
        register_secret(state.app_password)

    # -- lifecycle ------------------------------------------------------------------------------

    @classmethod
    def load(cls, root: Path | None = None) -> LabCluster | None:
        root = Path(root or default_root())
        state = read_state(root)
        if state is None:
            return None
        manifest = Manifest.read(root) or adopt_legacy(root, state)
        recover_passwords(root, state)
        return cls(root, state, manifest)

    @classmethod
    def remove_unfinished(cls, root: Path) -> bool:
        """`lab down` of a directory where `lab up` stopped half-way: remove what the marker lists."""
        manifest = Manifest.read(root)
        if manifest is None:
            return False
        manifest.remove_all()
        return True

    @classmethod
    def create(cls, root: Path | None = None, spec: LabSpec | None = None, install: PgInstall | None = None,
               *, start: bool = True) -> LabCluster:
        """A new cluster in `root` (a new or empty directory), started unless `start=False`."""
        root = Path(root or default_root())
        spec = spec or LabSpec()
        install = install or find_install()
        spec.validate(install.major)
        if (root / STATE_FILE).exists():
            raise LabError(f"a lab already exists in {root}: `neondoctor lab down` first")
        if (root / MARKER).exists():
            raise LabError(f"an unfinished lab is in {root}: `neondoctor lab down --dir {root}` removes it")
        manifest = Manifest.claim(root)  # refuses a directory holding files the lab did not create
        owner = process.server_user()
        data_dir = datadir.make(root, manifest)
        state = LabState(
            install_bindir=str(install.bindir),
            version=install.version,
            major=install.major,
            data_dir=str(data_dir),
            port=free_port(),
            superuser_password=secrets.token_urlsafe(18),
            app_password=secrets.token_urlsafe(18),
            spec=asdict(spec),
            server_user=owner[2] if owner else None,
        )
        cluster = cls(root, state, manifest)
        try:
            datadir.initdb(install.tool("initdb"), cluster.data_dir, state.superuser_password)
            cluster.configure(spec)
            cluster._write_state()
            if start:
                cluster.start()
                admin.create_app_database(cluster.connect(), state.app_password)
        except BaseException:
            cluster.destroy()
            raise
        return cluster

    def _write_state(self) -> None:
        # The .env first: lab.json is what marks the lab complete, and it holds no password.
        pooler = self.pooler() if self.manifest.owns(self.root / STATE_FILE) else None
        pooled = pooler.url() if pooler is not None else None
        self.manifest.write(self.env_file, env_text(self.root, app_url=self.app_url(),
                                                    superuser_url=self.superuser_url(), pooled_url=pooled))
        self.manifest.write(self.root / STATE_FILE, json.dumps(self.state.public(), indent=2) + "\n")

    @property
    def env_file(self) -> Path:
        return self.root / ENV_FILE

    @property
    def data_dir(self) -> Path:
        return Path(self.state.data_dir)

    @property
    def port(self) -> int:
        return self.state.port

    @property
    def major(self) -> int:
        return self.state.major

    @property
    def spec(self) -> LabSpec:
        return LabSpec(**self.state.spec)

    def _pg_ctl(self, *args: str) -> None:
        pg_ctl = str(Path(self.state.install_bindir) / "pg_ctl")
        process.run([pg_ctl, "-D", str(self.data_dir), *args], home=self.state.data_dir, timeout=45)

    def configure(self, spec: LabSpec) -> None:
        """Write the settings and pg_hba.conf for `spec`; takes effect at the next (re)start."""
        datadir.configure(self.data_dir, self.port, spec, self.major)
        self.state.spec = asdict(spec)
        if self.manifest.owns(self.root / STATE_FILE):
            self._write_state()

    def start(self) -> None:
        """Start the server; returns only when it accepts connections on its port, else LabError."""
        if self.is_running():
            return
        pid = postmaster_pid(self.data_dir)
        if pid is not None and is_postmaster(pid):
            # Alive but not (yet) accepting: crash recovery takes a moment; a wedged server does not end.
            if wait_until(lambda: accepts(self.port), timeout=15):
                return
            raise LabError(f"the server (pid {pid}) runs but 127.0.0.1:{self.port} accepts no connection: "
                           "`neondoctor lab stop`, then `neondoctor lab start`")
        if pid is not None:
            # Left behind by a server killed with SIGKILL (the pid is gone, a zombie, or now another
            # program's): PostgreSQL would refuse to start while it names a live process. The socket's
            # lock file names the same pid, and lives in the data directory too (the lab's socket dir).
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
            for stale in self.data_dir.glob(".s.PGSQL.*"):
                stale.unlink(missing_ok=True)
        last: LabError | None = None
        for _ in range(3):
            try:
                self._pg_ctl("-l", str(self.data_dir / "server.log"), "-w", "-t", "30", "start")
                if wait_until(lambda: accepts(self.port), timeout=10):
                    return
                raise LabError(f"the server started but 127.0.0.1:{self.port} accepts no connection")
            except LabError as exc:
                last = exc
                if "could not bind" not in self.server_log_tail():
                    break
                # The port was taken between choosing and binding it: pick another.
                self.state.port = free_port()
                self.configure(self.spec)
        raise LabError(f"{last}; server log: {self.server_log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        pid = postmaster_pid(self.data_dir)
        if pid is None:
            return
        if not is_postmaster(pid):
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)  # stale: nothing to stop
            return
        self._pg_ctl("-m", mode, "-w", "-t", "30", "stop")

    def kill(self) -> None:
        """Stop without a clean shutdown, as a crash would."""
        self.stop("immediate")

    def restart(self) -> None:
        self.stop()
        self.start()

    def is_running(self) -> bool:
        """The postmaster named in postmaster.pid is alive (not a zombie) and the port accepts."""
        pid = postmaster_pid(self.data_dir)
        return pid is not None and is_postmaster(pid) and accepts(self.port)

    def pooler(self) -> Any:
        """The lab's PgBouncer (neondoctor.lab.pgbouncer.LabPooler), or None when it has none."""
        from neondoctor.lab.pgbouncer import LabPooler

        return LabPooler.load(self)

    def destroy(self) -> None:
        """Stop the server and remove exactly the files and directories the lab created."""
        with contextlib.suppress(LabError):
            if (pooler := self.pooler()) is not None:
                pooler.destroy()
        with contextlib.suppress(LabError):
            self.stop("immediate")
        self.manifest.remove_all()

    def server_log_tail(self, lines: int = 5) -> str:
        return process.log_tail(self.data_dir / "server.log", lines)

    # -- URLs and connections -------------------------------------------------------------------

    def url(
        self,
        *,
        user: str = APP_USER,
        password: str | None = None,
        database: str = APP_DATABASE,
        host: str = "127.0.0.1",
        port: int | None = None,
        driver: str | None = "psycopg2",
        query: dict[str, str] | None = None,
    ) -> str:
        if password is None:
            password = self.state.password_of(user)
        q = {"connect_timeout": "5"} if query is None else query
        return make_url(user=user, password=password, host=host, port=port or self.port,
                        database=database, driver=driver, query=q)

    def app_url(self, **kwargs: Any) -> str:
        return self.url(**kwargs)

    def superuser_url(self, **kwargs: Any) -> str:
        kwargs.setdefault("database", "postgres")
        return self.url(user=SUPERUSER, **kwargs)

    def connect(self, *, user: str = SUPERUSER, password: str | None = None, database: str = "postgres",
                autocommit: bool = True, **kwargs: Any) -> Any:
        """A psycopg2 connection (superuser by default), for setting up scenarios in tests."""
        password = self.state.password_of(user) if password is None else password
        return admin.connect(port=self.port, user=user, password=password, database=database,
                             autocommit=autocommit, **kwargs)

    def execute(self, sql: str, params: Any = None, *, database: str = "postgres") -> list[tuple[Any, ...]]:
        return admin.execute(self.connect(database=database), sql, params)

    def create_role(self, name: str, password: str | None = None, *, superuser: bool = False,
                    grants: tuple[str, ...] = (), options: str = "") -> str:
        """Create a login role; returns its password. `grants` are extra GRANT targets (role names)."""
        return admin.create_role(self.connect(), name, password, superuser=superuser, grants=grants,
                                 options=options)

    def status(self) -> dict[str, Any]:
        running = self.is_running()
        return {
            "root": str(self.root),
            "running": running,
            "version": self.state.version,
            "bindir": self.state.install_bindir,
            "port": self.port,
            "data_dir": self.state.data_dir,
            "server_user": self.state.server_user,
            "env_file": str(self.env_file),
            "database_url": self.app_url(),  # redacted by every output path
            "spec": self.state.spec,
        }


@contextlib.contextmanager
def temporary_cluster(spec: LabSpec | None = None, install: PgInstall | None = None) -> Iterator[LabCluster]:
    """A cluster that exists for the duration of a `with` block (tests, `lab demo`)."""
    root = Path(tempfile.mkdtemp(prefix="neondoctor-lab-"))
    cluster = LabCluster.create(root, spec, install)
    try:
        yield cluster
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)
