"""A throwaway local PostgreSQL cluster, optionally configured to reproduce a fault.

The CLI (`neondoctor lab`) and the test suite use this same code, so what the README demonstrates
and what the tests prove cannot drift apart.

Server binaries: neondoctor.lab.install; the configuration: neondoctor.lab.spec; which files are the
lab's own: neondoctor.lab.owned (the lab never writes or deletes anything else). As root, the server runs as an unprivileged user (NEONDOCTOR_LAB_USER, default `nobody`).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from neondoctor.errors import LabError
from neondoctor.lab.install import PgInstall, find_install, find_installs
from neondoctor.lab.owned import MARKER, Manifest, accepts, is_postmaster, postmaster_pid
from neondoctor.lab.spec import LabSpec
from neondoctor.redaction import register_secret

# Re-exported: the lab's public names stay importable from here.
__all__ = ["APP_DATABASE", "APP_USER", "SUPERUSER", "LabCluster", "LabSpec", "LabState", "PgInstall",
           "find_install", "find_installs", "free_port", "make_url", "temporary_cluster", "wait_until"]

SUPERUSER = "postgres"
APP_USER = "app"
APP_DATABASE = "neondoctor_lab"
STATE_FILE = "lab.json"
ENV_FILE = ".env"
_TIMEOUT = 60


# ---------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def default_root() -> Path:
    if env := os.environ.get("NEONDOCTOR_LAB_DIR"):
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "neondoctor" / "lab"


def _server_user() -> tuple[int, int, str] | None:
    """The unprivileged account the server runs as when we are root; None when not root."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("NEONDOCTOR_LAB_USER", "nobody")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise LabError(f"running as root needs an unprivileged user for the server: {name!r} does not exist (NEONDOCTOR_LAB_USER)") from None
    if entry.pw_uid == 0:
        raise LabError(f"NEONDOCTOR_LAB_USER={name} is root; PostgreSQL refuses to run as root")
    return entry.pw_uid, entry.pw_gid, name


def make_url(
    *,
    user: str,
    password: str | None,
    host: str = "127.0.0.1",
    port: int,
    database: str,
    driver: str | None = "psycopg2",
    query: dict[str, str] | None = None,
) -> str:
    scheme = f"postgresql+{driver}" if driver else "postgresql"
    auth = quote(user, safe="")
    if password is not None:
        auth += ":" + quote(password, safe="")
    netloc = f"[{host}]" if ":" in host else host
    q = f"?{urlencode(query)}" if query else ""
    return f"{scheme}://{auth}@{netloc}:{port}/{quote(database, safe='')}{q}"


# ---------------------------------------------------------------- the cluster


@dataclass
class LabState:
    install_bindir: str
    version: str
    major: int
    data_dir: str
    port: int
    spec: dict[str, Any]
    server_user: str | None
    # Kept only in the 0600 .env (DATABASE_URL and NEONDOCTOR_LAB_SUPERUSER_URL), never in lab.json.
    superuser_password: str = ""
    app_password: str = ""

    def public(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in _SECRET_FIELDS}


_SECRET_FIELDS = ("superuser_password", "app_password")
_ENV_SUPERUSER = "NEONDOCTOR_LAB_SUPERUSER_URL"
_ENV_UNPOOLED = "DATABASE_URL_UNPOOLED"
_ENV_HEADER = "# neondoctor lab"


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
        path = root / STATE_FILE
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            state = LabState(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise LabError(f"lab state {path} is unreadable ({type(exc).__name__}); "
                           f"`neondoctor lab down --dir {root}` removes it") from None
        manifest = Manifest.read(root) or _adopt_legacy(root, state)
        env = _read_lab_env(root / ENV_FILE)
        if not state.app_password:
            state.app_password = _password_of(env.get(_ENV_UNPOOLED) or env.get("DATABASE_URL"))
        if not state.superuser_password:
            state.superuser_password = _password_of(env.get(_ENV_SUPERUSER))
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
    def create(
        cls,
        root: Path | None = None,
        spec: LabSpec | None = None,
        install: PgInstall | None = None,
        *,
        start: bool = True,
    ) -> LabCluster:
        root = Path(root or default_root())
        spec = spec or LabSpec()
        install = install or find_install()
        spec.validate(install.major)
        if (root / STATE_FILE).exists():
            raise LabError(f"a lab already exists in {root}: `neondoctor lab down` first")
        if (root / MARKER).exists():
            raise LabError(f"an unfinished lab is in {root}: `neondoctor lab down --dir {root}` removes it")
        manifest = Manifest.claim(root)  # refuses a directory holding files the lab did not create
        owner = _server_user()
        if owner:
            # root's own directories are closed to the server user: keep the data under /tmp.
            data_dir = Path(tempfile.mkdtemp(prefix="neondoctor-pg-"))
            manifest.record(data_dir)
            os.chown(data_dir, owner[0], owner[1])
        else:
            data_dir = root / "data"
            manifest.record(data_dir)
            data_dir.mkdir(mode=0o700)
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
            cluster._initdb(install)
            cluster._write_state()
            if start:
                cluster.start()
                cluster._create_app_role()
        except BaseException:
            cluster.destroy()
            raise
        return cluster

    def _write_state(self) -> None:
        # The .env first: lab.json is what marks the lab complete, and it holds no password.
        pooler = self.pooler() if self.manifest.owns(self.root / STATE_FILE) else None
        if pooler is not None:  # as Neon's integrations name them: DATABASE_URL pooled, _UNPOOLED direct
            urls = f"DATABASE_URL={pooler.url()}\n{_ENV_UNPOOLED}={self.app_url()}\n"
        else:
            urls = f"DATABASE_URL={self.app_url()}\n"
        self.manifest.write(self.env_file, (
            f"{_ENV_HEADER} ({self.root}); throwaway credentials, mode 0600\n"
            f"{urls}{_ENV_SUPERUSER}={self.superuser_url()}\n"))
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

    def _bin(self, name: str) -> str:
        return str(Path(self.state.install_bindir) / name)

    def _run(self, args: list[str], *, timeout: float = _TIMEOUT, check: bool = True) -> subprocess.CompletedProcess[str]:
        owner = _server_user()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
        kwargs: dict[str, Any] = {}
        if owner:
            kwargs = {"user": owner[0], "group": owner[1], "extra_groups": []}
            env["HOME"] = self.state.data_dir
        try:
            proc = subprocess.run(
                args, capture_output=True, text=True, timeout=timeout, env=env, cwd="/", **kwargs
            )
        except subprocess.TimeoutExpired:
            raise LabError(f"{Path(args[0]).name} did not finish within {timeout:.0f}s") from None
        except OSError as exc:
            raise LabError(f"cannot run {args[0]}: {exc.strerror}") from None
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise LabError(f"{Path(args[0]).name} failed (exit {proc.returncode}): {' | '.join(detail)}")
        return proc

    def _initdb(self, install: PgInstall) -> None:
        owner = _server_user()
        fd, name = tempfile.mkstemp(prefix="neondoctor-pw-")  # exclusive, 0600, never a stranger's file
        pwfile = Path(name)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.state.superuser_password + "\n")
        if owner:
            os.chown(pwfile, owner[0], owner[1])
        try:
            self._run(
                [
                    install.tool("initdb"),
                    "-D", str(self.data_dir),
                    "-U", SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                timeout=120,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with open(self.data_dir / "postgresql.conf", "a") as fh:
            fh.write("\ninclude_if_exists = 'neondoctor.conf'\n")
        self.configure(self.spec)

    def configure(self, spec: LabSpec) -> None:
        """Write the settings and pg_hba.conf for `spec`; takes effect at the next (re)start."""
        spec.validate(self.major)
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.data_dir}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "logging_collector": "off",
            "log_connections": "off",
            "shared_buffers": "16MB",
            **spec.conf(self.major),
        }
        lines = [f"{k} = {v}" for k, v in conf.items()]
        self._write_server_file("neondoctor.conf", "\n".join(lines) + "\n")
        auth = spec.auth
        hba = [
            f"local all all {auth}",
            f"host all all 127.0.0.1/32 {auth}",
            f"host all all ::1/128 {auth}",
        ]
        self._write_server_file("pg_hba.conf", "\n".join(hba) + "\n")
        if spec.ssl:
            self._make_certificate()
        self.state.spec = asdict(spec)
        if self.manifest.owns(self.root / STATE_FILE):
            self._write_state()

    def _write_server_file(self, name: str, text: str) -> None:
        path = self.data_dir / name
        path.write_text(text)
        os.chmod(path, 0o600)
        if owner := _server_user():
            os.chown(path, owner[0], owner[1])

    def _make_certificate(self) -> None:
        if (self.data_dir / "server.crt").exists():
            return
        openssl = shutil.which("openssl")
        if not openssl:
            raise LabError("an SSL lab needs the openssl command to make a self-signed certificate")
        subprocess.run(
            [openssl, "req", "-new", "-x509", "-days", "2", "-nodes", "-subj", "/CN=localhost",
             "-newkey", "rsa:2048",
             "-keyout", str(self.data_dir / "server.key"), "-out", str(self.data_dir / "server.crt")],
            capture_output=True, check=True, timeout=60,
        )
        for name in ("server.key", "server.crt"):
            os.chmod(self.data_dir / name, 0o600)
            if owner := _server_user():
                os.chown(self.data_dir / name, owner[0], owner[1])

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
                self._run(
                    [self._bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.data_dir / "server.log"),
                     "-w", "-t", "30", "start"],
                    timeout=45,
                )
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
        self._run([self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "-t", "30", "stop"], timeout=45)

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
        try:
            text = (self.data_dir / "server.log").read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

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
            password = self.state.superuser_password if user == SUPERUSER else self.state.app_password
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
        import psycopg2

        if password is None:
            password = self.state.superuser_password if user == SUPERUSER else self.state.app_password
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=user, password=password,
                                dbname=database, connect_timeout=5, **kwargs)
        conn.autocommit = autocommit
        return conn

    def execute(self, sql: str, params: Any = None, *, database: str = "postgres") -> list[tuple[Any, ...]]:
        conn = self.connect(database=database)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def create_role(self, name: str, password: str | None = None, *, superuser: bool = False,
                    grants: tuple[str, ...] = (), options: str = "") -> str:
        """Create a login role; returns its password. `grants` are extra GRANT targets (role names)."""
        from psycopg2 import sql

        password = password or secrets.token_urlsafe(12)
        register_secret(password)
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    sql.SQL("CREATE ROLE {} LOGIN {} PASSWORD %s " + options).format(
                        sql.Identifier(name), sql.SQL("SUPERUSER" if superuser else "NOSUPERUSER")
                    ),
                    (password,),
                )
                for grant in grants:
                    cur.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(grant), sql.Identifier(name)))
        finally:
            conn.close()
        return password

    def _create_app_role(self) -> None:
        from psycopg2 import sql

        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(APP_USER)),
                    (self.state.app_password,),
                )
                cur.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(APP_DATABASE), sql.Identifier(APP_USER)
                    )
                )
        finally:
            conn.close()

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


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def _read_lab_env(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def _password_of(url: str | None) -> str:
    from urllib.parse import unquote, urlsplit

    if not url:
        return ""
    return unquote(urlsplit(url).password or "")


def _adopt_legacy(root: Path, state: LabState) -> Manifest:
    """A lab made before the marker existed: it owns lab.json, its data and a .env it wrote itself."""
    paths = [state.data_dir, str(root / STATE_FILE)]
    try:
        if (root / ENV_FILE).read_text().startswith(_ENV_HEADER):
            paths.append(str(root / ENV_FILE))
    except OSError:
        pass
    manifest = Manifest(root, created_root=False, paths=paths)
    manifest.save()
    return manifest
