"""`neondoctor lab` in a real subprocess, with NEONDOCTOR_LAB_DIR pointing at a temporary directory."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from neondoctor.lab.cluster import LabCluster, PgInstall
from neondoctor.settings import read_env_file
from neondoctor.url import libpq_kwargs, parse_url


def _lab(cli: Any, root: Path, *args: str) -> Any:
    return cli("lab", *args, env={"NEONDOCTOR_LAB_DIR": str(root)}, timeout=180)


def _connect(env_file: Path) -> Any:
    url = read_env_file(env_file)["DATABASE_URL"]
    return psycopg2.connect(**libpq_kwargs(parse_url(url)))


def test_up_status_stop_start_down(cli: Any, tmp_path: Path, primary_install: PgInstall) -> None:
    root = tmp_path / "lab"
    up = _lab(cli, root, "up", "--pg-version", str(primary_install.major), "--max-connections", "12",
              "--idle-session-timeout", "60000")
    assert up.returncode == 0, up.stderr
    cluster = LabCluster.load(root)
    assert cluster is not None
    try:
        env_file = root / ".env"
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        assert f"--env-file {env_file}" in up.stdout and "export $(grep DATABASE_URL" in up.stdout
        assert "app:****@" in up.stdout
        for secret in (cluster.state.app_password, cluster.state.superuser_password):
            assert secret not in up.stdout + up.stderr
        conn = _connect(env_file)
        with conn.cursor() as cur:
            cur.execute("SHOW max_connections")
            assert cur.fetchone()[0] == "12"
            cur.execute("SHOW idle_session_timeout")
            assert cur.fetchone()[0] == "1min"
        conn.close()

        again = _lab(cli, root, "up")
        assert again.returncode == 0 and "already exists" in again.stdout

        status = _lab(cli, root, "status", "--json")
        assert status.returncode == 0, status.stderr
        doc = json.loads(status.stdout)
        assert doc["running"] is True and doc["spec"]["max_connections"] == 12
        assert "****" in doc["database_url"] and cluster.state.app_password not in status.stdout

        stop = _lab(cli, root, "stop")
        assert stop.returncode == 0, stop.stderr
        with pytest.raises(psycopg2.OperationalError, match="Connection refused"):
            _connect(env_file)
        assert json.loads(_lab(cli, root, "status", "--json").stdout)["running"] is False
        assert Path(cluster.state.data_dir).exists()  # data kept

        start = _lab(cli, root, "start")
        assert start.returncode == 0, start.stderr
        _connect(env_file).close()

        down = _lab(cli, root, "down")
        assert down.returncode == 0, down.stderr
        assert not root.exists() and not Path(cluster.state.data_dir).exists()
        gone = _lab(cli, root, "status")
        assert gone.returncode == 1 and "no lab" in gone.stderr
    finally:
        cluster.destroy()


def test_commands_without_a_lab(cli: Any, tmp_path: Path) -> None:
    root = tmp_path / "none"
    assert _lab(cli, root, "down").returncode == 0
    for action in ("stop", "start"):
        result = _lab(cli, root, action)
        assert result.returncode == 2 and "no lab in" in result.stderr and "Traceback" not in result.stderr
    status = _lab(cli, root, "status", "--json")
    assert status.returncode == 1 and json.loads(status.stdout)["exists"] is False


def test_bad_configuration_is_a_clear_error(cli: Any, tmp_path: Path) -> None:
    root = tmp_path / "bad"
    result = _lab(cli, root, "up", "--max-connections", "5", "--superuser-reserved", "5")
    assert result.returncode == 2 and "max_connections" in result.stderr
    assert "Traceback" not in result.stderr
    missing = _lab(cli, root, "up", "--pg-version", "9")
    assert missing.returncode == 2 and "PostgreSQL 9" in missing.stderr


def test_versions_lists_server_binaries(cli: Any, primary_install: PgInstall) -> None:
    result = cli("lab", "versions", "--json")
    assert result.returncode == 0
    majors = {i["major"] for i in json.loads(result.stdout)}
    assert primary_install.major in majors
