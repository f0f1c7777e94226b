"""The lab touches only its own files; `lab start` after a SIGKILL says "running" only when it is.

Each test runs the real `neondoctor lab` in a subprocess against a real PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg2

from neondoctor.lab.cluster import LabCluster, PgInstall
from neondoctor.lab.owned import MARKER
from neondoctor.settings import read_env_file
from neondoctor.url import libpq_kwargs, parse_url

PROD_PW = "Pr0d-" + "S3cret-Value"  # built at run time: no credential-shaped literal in the repository
USER_ENV = f"DATABASE_URL=postgresql://prod:{PROD_PW}@db.example.com/prod\nSTRIPE_KEY=sk_live_x\n"


def _lab(cli: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return cli("lab", *args, timeout=180)


def _connect(env_file: Path) -> Any:
    return psycopg2.connect(**libpq_kwargs(parse_url(read_env_file(env_file)["DATABASE_URL"])))


def _clean(proc: subprocess.CompletedProcess[str], *secrets: str) -> None:
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    for secret in secrets:
        assert secret not in out


def test_up_refuses_a_directory_holding_the_users_files(cli: Any, tmp_path: Path,
                                                        primary_install: PgInstall) -> None:
    d = tmp_path / "project"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    env = d / ".env"
    env.write_text(USER_ENV)
    os.chmod(env, 0o644)
    up = _lab(cli, "up", "--dir", str(d), "--pg-version", str(primary_install.major))
    assert up.returncode == 2, up.stdout + up.stderr
    assert "not a neondoctor lab directory" in up.stderr and "choose a new or empty --dir" in up.stderr
    _clean(up, PROD_PW)
    assert env.read_text() == USER_ENV and stat.S_IMODE(env.stat().st_mode) == 0o644
    assert stat.S_IMODE(d.stat().st_mode) == 0o755
    assert sorted(p.name for p in d.iterdir()) == [".env"]  # nothing added
    down = _lab(cli, "down", "--dir", str(d))
    assert down.returncode == 0 and "nothing to remove" in down.stdout
    assert env.read_text() == USER_ENV


def test_lab_files_and_passwords_in_an_existing_empty_directory(cli: Any, tmp_path: Path,
                                                                primary_install: PgInstall) -> None:
    d = tmp_path / "empty"
    d.mkdir()
    os.chmod(d, 0o751)
    up = _lab(cli, "up", "--dir", str(d), "--pg-version", str(primary_install.major))
    assert up.returncode == 0, up.stderr
    cluster = LabCluster.load(d)
    assert cluster is not None
    try:
        passwords = (cluster.state.app_password, cluster.state.superuser_password)
        assert all(len(p) > 10 for p in passwords)
        _clean(up, *passwords)
        assert stat.S_IMODE(d.stat().st_mode) == 0o751  # a directory the lab did not create keeps its mode
        env = d / ".env"
        assert stat.S_IMODE(env.stat().st_mode) == 0o600
        assert all(p in env.read_text() for p in passwords)  # the .env is the one file holding them
        state_text = (d / "lab.json").read_text()
        assert not any(p in state_text for p in passwords)
        assert "password" not in json.loads(state_text)
        _connect(env).close()
        cluster.connect().close()  # the superuser password is read back from the .env
        (d / "notes.txt").write_text("mine")  # a file the user adds later
        down = _lab(cli, "down", "--dir", str(d))
        assert down.returncode == 0, down.stderr
        assert sorted(p.name for p in d.iterdir()) == ["notes.txt"]
        assert not Path(cluster.state.data_dir).exists()
    finally:
        cluster.destroy()


def test_down_never_removes_a_user_file_named_like_the_labs(cli: Any, tmp_path: Path,
                                                           primary_install: PgInstall) -> None:
    d = tmp_path / "lab"
    assert _lab(cli, "up", "--dir", str(d), "--pg-version", str(primary_install.major)).returncode == 0
    cluster = LabCluster.load(d)
    assert cluster is not None
    try:
        (d / "data.bak").write_text("user backup")
        assert _lab(cli, "down", "--dir", str(d)).returncode == 0
        assert (d / "data.bak").read_text() == "user backup"  # kept, so the directory stays too
        assert sorted(p.name for p in d.iterdir()) == ["data.bak"]
    finally:
        cluster.destroy()


def test_start_after_sigkill_of_the_postmaster(cli: Any, tmp_path: Path, primary_install: PgInstall) -> None:
    d = tmp_path / "lab"
    assert _lab(cli, "up", "--dir", str(d), "--pg-version", str(primary_install.major)).returncode == 0
    cluster = LabCluster.load(d)
    assert cluster is not None
    sleeper = None
    try:
        pid_file = Path(cluster.state.data_dir) / "postmaster.pid"
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and cluster.is_running():
            time.sleep(0.1)
        status = _lab(cli, "status", "--dir", str(d), "--json")
        assert json.loads(status.stdout)["running"] is False
        # The stale postmaster.pid now names a live process that is not PostgreSQL (pid reuse).
        sleeper = subprocess.Popen(["sleep", "60"])
        lines = pid_file.read_text().splitlines()
        pid_file.write_text("\n".join([str(sleeper.pid), *lines[1:]]) + "\n")
        assert json.loads(_lab(cli, "status", "--dir", str(d), "--json").stdout)["running"] is False
        start = _lab(cli, "start", "--dir", str(d))
        assert start.returncode == 0, start.stdout + start.stderr
        assert "running on" in start.stdout
        _clean(start, cluster.state.app_password, cluster.state.superuser_password)
        _connect(d / ".env").close()  # "running" means it accepts connections
        assert sleeper.poll() is None  # the stranger process was left alone
    finally:
        if sleeper:
            sleeper.kill()
            sleeper.wait()
        cluster.destroy()


def test_unfinished_lab_is_removed_by_down(cli: Any, tmp_path: Path) -> None:
    d = tmp_path / "half"
    d.mkdir()
    (d / MARKER).write_text(json.dumps({"created_root": False, "paths": [str(d / "lab.json")]}))
    (d / "lab.json.user").write_text("not the lab's")
    up = _lab(cli, "up", "--dir", str(d))
    assert up.returncode == 2 and "unfinished lab" in up.stderr
    down = _lab(cli, "down", "--dir", str(d))
    assert down.returncode == 0 and "unfinished lab removed" in down.stdout
    assert sorted(p.name for p in d.iterdir()) == ["lab.json.user"]
