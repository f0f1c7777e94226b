"""What the lab writes into its data directory: initdb, the server settings, pg_hba.conf and, for an
SSL lab, a self-signed certificate. Settings take effect at the server's next (re)start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from neondoctor.errors import LabError
from neondoctor.lab import process
from neondoctor.lab.owned import Manifest
from neondoctor.lab.spec import LabSpec
from neondoctor.lab.state import SUPERUSER

CONF_FILE = "neondoctor.conf"  # included from postgresql.conf; the lab rewrites only this one


def make(root: Path, manifest: Manifest) -> Path:
    """The empty data directory, recorded as the lab's own before it exists."""
    if process.server_user():
        # root's own directories are closed to the server user: keep the data under /tmp.
        data_dir = Path(tempfile.mkdtemp(prefix="neondoctor-pg-"))
        manifest.record(data_dir)
        process.give_to_server(data_dir)
    else:
        data_dir = root / "data"
        manifest.record(data_dir)
        data_dir.mkdir(mode=0o700)
    return data_dir


def initdb(initdb_path: str, data_dir: Path, superuser_password: str) -> None:
    """A new cluster in `data_dir` (SCRAM, UTF8, C locale), its superuser's password never on a command line."""
    fd, name = tempfile.mkstemp(prefix="neondoctor-pw-")  # exclusive, 0600, never a stranger's file
    pwfile = Path(name)
    with os.fdopen(fd, "w") as fh:
        fh.write(superuser_password + "\n")
    process.give_to_server(pwfile)
    try:
        process.run(
            [
                initdb_path,
                "-D", str(data_dir),
                "-U", SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            home=str(data_dir),
            timeout=120,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    with open(data_dir / "postgresql.conf", "a") as fh:
        fh.write(f"\ninclude_if_exists = '{CONF_FILE}'\n")


def configure(data_dir: Path, port: int, spec: LabSpec, major: int) -> None:
    """Write the settings and pg_hba.conf for `spec` (and the certificate it needs)."""
    spec.validate(major)
    conf = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(port),
        "unix_socket_directories": f"'{data_dir}'",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "logging_collector": "off",
        "log_connections": "off",
        "shared_buffers": "16MB",
        **spec.conf(major),
    }
    lines = [f"{k} = {v}" for k, v in conf.items()]
    _write_server_file(data_dir / CONF_FILE, "\n".join(lines) + "\n")
    auth = spec.auth
    hba = [
        f"local all all {auth}",
        f"host all all 127.0.0.1/32 {auth}",
        f"host all all ::1/128 {auth}",
    ]
    _write_server_file(data_dir / "pg_hba.conf", "\n".join(hba) + "\n")
    if spec.ssl:
        _make_certificate(data_dir)


def _write_server_file(path: Path, text: str) -> None:
    path.write_text(text)
    os.chmod(path, 0o600)
    process.give_to_server(path)


def _make_certificate(data_dir: Path) -> None:
    if (data_dir / "server.crt").exists():
        return
    openssl = shutil.which("openssl")
    if not openssl:
        raise LabError("an SSL lab needs the openssl command to make a self-signed certificate")
    subprocess.run(
        [openssl, "req", "-new", "-x509", "-days", "2", "-nodes", "-subj", "/CN=localhost",
         "-newkey", "rsa:2048",
         "-keyout", str(data_dir / "server.key"), "-out", str(data_dir / "server.crt")],
        capture_output=True, check=True, timeout=60,
    )
    for name in ("server.key", "server.crt"):
        os.chmod(data_dir / name, 0o600)
        process.give_to_server(data_dir / name)
