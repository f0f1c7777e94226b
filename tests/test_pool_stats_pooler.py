"""The PgBouncer waiting count in a recording and in the exporter, against a real PgBouncer."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from conftest import run_cli
from prometheus_client.parser import text_string_to_metric_families

from neondoctor.lab.cluster import LabCluster, LabSpec, wait_until
from neondoctor.pool_stats.pooler import PoolerWatch
from neondoctor.url import parse_url

PGBOUNCER = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)
pytestmark = pytest.mark.skipif(PGBOUNCER is None, reason="pgbouncer is not installed (.ci/run installs it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def pgbouncer(cluster: LabCluster) -> Iterator[int]:
    """Transaction pooling with ONE server connection, so a second client waits; admin user `pgbadmin`."""
    # Its own directory under /tmp: pytest's tmp_path is 0700 root, and pgbouncer drops to nobody as root.
    d = Path(tempfile.mkdtemp(prefix="neondoctor-pgb-"))
    d.chmod(0o777)
    port = free_port()
    users = d / "users.txt"
    users.write_text(f'"app" "{cluster.state.app_password}"\n"pgbadmin" ""\n')
    users.chmod(0o644)
    ini = d / "pgb.ini"
    ini.write_text(f"[databases]\nneondoctor_lab = host=127.0.0.1 port={cluster.port} dbname=neondoctor_lab\n"
                   f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
                   f"auth_type = trust\nauth_file = {users}\nadmin_users = pgbadmin\npool_mode = transaction\n"
                   f"default_pool_size = 1\nmax_client_conn = 20\nlogfile = {d / 'pgb.log'}\n")
    ini.chmod(0o644)
    cmd = [str(PGBOUNCER), *(["-u", "nobody"] if os.geteuid() == 0 else []), str(ini)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def up() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        assert wait_until(up, timeout=10), "pgbouncer did not start"
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def one_waiting(port: int) -> Iterator[None]:
    """One client holds the only server connection in a transaction; a second one waits for it."""
    holder = psycopg2.connect(host="127.0.0.1", port=port, user="app", dbname="neondoctor_lab")
    waiter = psycopg2.connect(host="127.0.0.1", port=port, user="app", dbname="neondoctor_lab")
    holder.cursor().execute("SELECT 1")
    thread = threading.Thread(target=lambda: waiter.cursor().execute("SELECT 1"), daemon=True)
    thread.start()
    try:
        time.sleep(0.3)
        yield
    finally:
        holder.rollback()
        thread.join(10)
        holder.close()
        waiter.close()


def test_pooler_waiting_is_recorded_and_exported(make_cluster: Any, tmp_path: Path) -> None:
    cluster = make_cluster(LabSpec(max_connections=20))
    with pgbouncer(cluster) as port:
        admin = f"postgresql://pgbadmin@127.0.0.1:{port}/pgbouncer"
        watch = PoolerWatch(parse_url(admin))
        try:
            assert watch.waiting() == 0
            with one_waiting(port):
                assert watch.waiting() == 1
        finally:
            watch.close()
        assert PoolerWatch(parse_url(f"postgresql://pgbadmin@127.0.0.1:{free_port()}/pgbouncer")).waiting() is None

        out = tmp_path / "pooler.db"
        with one_waiting(port):
            rec = run_cli("pool-stats", "record", "--out", str(out), "--interval", "0.2", "--duration", "1",
                          "--pgbouncer-url", admin, env={"DATABASE_URL": cluster.app_url()})
        assert rec.returncode == 0, rec.stderr
        doc = json.loads(run_cli("pool-stats", "report", str(out), "--json").stdout)
        assert doc["pooler_waiting_peak"] == 1

        env = {"DATABASE_URL": cluster.app_url(), "NEONDOCTOR_PGBOUNCER_URL": admin}
        full = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | env
        proc = subprocess.Popen([sys.executable, "-m", "neondoctor", "pool-stats", "serve", "--port", "0",
                                 "--cache", "0"], stderr=subprocess.PIPE, text=True, env=full)
        try:
            line = proc.stderr.readline() if proc.stderr else ""
            endpoint = line.split("serving ", 1)[1].split(" ", 1)[0]
            with one_waiting(port), urllib.request.urlopen(endpoint, timeout=10) as resp:
                text = resp.read().decode()
            values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
            assert values["neondoctor_server_pooler_waiting_clients"] == 1
        finally:
            proc.terminate()
            proc.communicate(timeout=10)
