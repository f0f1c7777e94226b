"""`pool-stats serve` (Prometheus), `--check` (Nagios), `--watch --json` lines, and the watch/threshold fixes."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import run_cli
from prometheus_client.parser import text_string_to_metric_families

from neondoctor.lab.cluster import LabCluster, LabSpec, wait_until
from neondoctor.render.pool_stats_check import check_text, prometheus_text


def spawn(url: str, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"DATABASE_URL": url, "NO_COLOR": "1"})
    return subprocess.Popen([sys.executable, "-m", "neondoctor", "pool-stats", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@contextlib.contextmanager
def serving(url: str, *args: str, output: list[str] | None = None) -> Iterator[str]:
    """The exporter on a free port; SIGTERM at the end; its stdout+stderr appended to `output`."""
    proc = spawn(url, "serve", "--port", "0", *args)
    first = ""
    try:
        first = proc.stderr.readline() if proc.stderr else ""
        m = re.search(r"http://127\.0\.0\.1:(\d+)/metrics", first)
        assert m, first
        yield f"http://127.0.0.1:{m.group(1)}/metrics"
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=15)
        if output is not None:
            output.append(first + out + err)
            output.append(str(proc.returncode))


def scrape(endpoint: str) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    with urllib.request.urlopen(endpoint, timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            values[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return text, values


@contextlib.contextmanager
def held(cluster: LabCluster, n: int, app: str, **kw: Any) -> Iterator[list[Any]]:
    conns = [cluster.connect(user="app", database="neondoctor_lab", application_name=app, **kw) for _ in range(n)]
    try:
        yield conns
    finally:
        for c in conns:
            c.close()


def test_exporter_output_parses_and_holds_the_known_state(make_cluster: Any) -> None:
    cluster = make_cluster(LabSpec(max_connections=20, superuser_reserved_connections=3))
    password = f"Exp-{secrets.token_hex(10)}-Pw"
    cluster.create_role("exporter_role", password, grants=("pg_monitor",))
    url = cluster.url(user="exporter_role", password=password)
    output: list[str] = []
    with held(cluster, 4, "web"), held(cluster, 2, "tx-app", autocommit=False) as tx, \
            serving(url, output=output) as endpoint:
        for c in tx:
            c.cursor().execute("SELECT 1")
        time.sleep(2.2)  # past the cache of a sample taken at start-up
        text, v = scrape(endpoint)
        assert v[("neondoctor_server_up", ())] == 1
        assert v[("neondoctor_server_connections_in_use", ())] == 6
        assert v[("neondoctor_server_connections_available", ())] == 17
        assert v[("neondoctor_server_connections_max", ())] == 20
        assert v[("neondoctor_server_connections_free", ())] == 11
        assert v[("neondoctor_server_connections_reserved", (("kind", "superuser_reserved_connections"),))] == 3
        assert v[("neondoctor_server_connections_by_state", (("state", "idle"),))] == 4
        assert v[("neondoctor_server_connections_by_state", (("state", "idle_in_transaction"),))] == 2
        assert v[("neondoctor_server_connections_by_application", (("application", "web"), ("state", "idle")))] == 4
        assert v[("neondoctor_server_connections_by_application",
                  (("application", "tx-app"), ("state", "idle_in_transaction")))] == 2
        assert v[("neondoctor_server_connections_by_user", (("state", "idle"), ("user", "app")))] == 4
        assert v[("neondoctor_server_idle_in_transaction_max_age_seconds", (("application", "tx-app"),))] > 1.0
        # A second scrape within the cache is the same text: no second query.
        assert scrape(endpoint)[0] == text
        assert password not in text
    assert output[1] == "0", "SIGTERM stops the exporter cleanly"
    assert password not in output[0] and "Traceback" not in output[0] and "****" in output[0]


def test_exporter_reports_a_dead_server_as_down_and_recovers(make_cluster: Any) -> None:
    cluster = make_cluster(LabSpec(max_connections=20))
    with serving(cluster.app_url(), "--cache", "0") as endpoint:
        assert scrape(endpoint)[1][("neondoctor_server_up", ())] == 1
        cluster.stop()
        text, v = scrape(endpoint)
        assert v[("neondoctor_server_up", ())] == 0 and "neondoctor_server_connections_in_use" not in text
        cluster.start()
        assert wait_until(lambda: scrape(endpoint)[1][("neondoctor_server_up", ())] == 1, timeout=20)


def test_render_prometheus_escapes_label_values() -> None:
    from neondoctor.pool_stats.model import Snapshot

    group = {"dim": "application", "key": 'we"ird\\app\nname', "connections": 1, "active": 1, "idle": 0,
             "idle_in_transaction": 0, "hidden": 0, "oldest_idle_s": None, "longest_idle_in_transaction_s": None,
             "idle_over_recycle": 0, "waiting_on_lock": 0}
    snap = Snapshot.from_document({
        "version": "16.2", "version_num": 160002, "max_connections": 10, "superuser_reserved_connections": 3,
        "reserved_connections": 0, "in_use": 1, "current_user": "app", "is_superuser": False,
        "read_all_stats": True, "self_pid": 1, "by_state": {"active": 1}, "groups": [group]})
    text = prometheus_text(snap, pooler_waiting=3, scrape_seconds=0.01)
    names = {s.labels.get("application") for f in text_string_to_metric_families(text) for s in f.samples}
    assert 'we"ird\\app\nname' in names
    waiting = [s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "neondoctor_server_pooler_waiting_clients"]
    assert waiting == [3]


# ------------------------------------------------------------------------------ --check


def test_check_exit_codes_and_perfdata(make_cluster: Any) -> None:
    cluster = make_cluster(LabSpec(max_connections=13, superuser_reserved_connections=3))  # 10 available
    url = cluster.app_url()
    ok = run_cli("pool-stats", "--check", env={"DATABASE_URL": url})
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert re.fullmatch(r"POOL OK - 0/10 slots \(0%\) \| used=0;7;9;0;10 active=0;;;0;10 idle=0;;;0;10 "
                        r"idle_in_transaction=0;;;0;10 free=10;;;0;10\n", ok.stdout), ok.stdout
    with held(cluster, 7, "web"):
        warn = run_cli("pool-stats", "--check", env={"DATABASE_URL": url})
        assert warn.returncode == 1 and warn.stdout.startswith("POOL WARNING - 7/10 slots (70%) | used=7;7;9;0;10")
        crit = run_cli("pool-stats", "--check", "--warn-pct", "20", "--critical-pct", "50", env={"DATABASE_URL": url})
        assert crit.returncode == 2 and crit.stdout.startswith("POOL CRITICAL - 7/10 slots")
        with held(cluster, 3, "hog"):
            full = run_cli("pool-stats", "--check", env={"DATABASE_URL": url})
            assert full.returncode == 2 and full.stdout.startswith("POOL CRITICAL - slots full")
    bad = run_cli("pool-stats", "--check", "--warn-pct", "95", "--critical-pct", "90", env={"DATABASE_URL": url})
    assert bad.returncode == 3 and bad.stdout.startswith("POOL UNKNOWN - thresholds")
    cluster.stop()
    down = run_cli("pool-stats", "--check", "--connect-timeout", "2", env={"DATABASE_URL": url})
    assert down.returncode == 3 and down.stdout.startswith("POOL UNKNOWN - ")
    for r in (ok, warn, crit, full, bad, down):
        assert "Traceback" not in r.stderr and cluster.state.app_password not in r.stdout + r.stderr


def test_check_line_format_has_no_pipe_in_the_summary() -> None:
    from neondoctor.pool_stats.check import UNKNOWN, CheckResult

    assert check_text(CheckResult(UNKNOWN, "a | b")) == "POOL UNKNOWN - a / b"


# ------------------------------------------------------------------------------ watch and thresholds


def test_watch_json_prints_one_line_per_sample_as_it_goes(lab_primary: LabCluster) -> None:
    proc = spawn(lab_primary.app_url(), "--watch", "--json", "--interval", "0.5", "--samples", "4")
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())  # arrives before the watch ends
    assert proc.poll() is None, "the first line must arrive while the watch is still running"
    rest, err = proc.communicate(timeout=60)
    lines = [first, *[json.loads(line) for line in rest.splitlines()]]
    assert [d["kind"] for d in lines] == ["sample"] * 4 + ["report"], lines
    assert {"server", "by_application", "by_client_addr"} <= set(first)
    assert len(lines[-1]["watch"]["samples"]) == 4 and "findings" in lines[-1]
    assert proc.returncode == 0 and "Traceback" not in err


def test_watch_keeps_its_samples_when_the_server_dies_mid_watch(make_cluster: Any) -> None:
    cluster = make_cluster(LabSpec(max_connections=20))
    proc = spawn(cluster.app_url(), "--watch", "--interval", "0.3", "--samples", "200")
    assert proc.stdout is not None
    got = [proc.stdout.readline() for _ in range(3)]
    assert all(line.startswith("sample") for line in got), got
    cluster.stop(mode="immediate")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, (out, err)
    assert "Traceback" not in err
    assert "CRIT unreachable: could not connect: after " in out and "samples" in out
    assert re.search(r"watch     \d+ samples over", out), "the samples taken are still reported"


def test_warn_pct_zero_is_accepted(lab_primary: LabCluster) -> None:
    result = run_cli("pool-stats", "--json", "--warn-pct", "0", env={"DATABASE_URL": lab_primary.app_url()})
    assert result.returncode == 1, result.stderr  # every usage is at or above 0 %: a warning, not an error
    doc = json.loads(result.stdout)
    assert next(f for f in doc["findings"] if f["id"] == "slot-usage")["severity"] in ("warn", "critical")


@pytest.mark.parametrize("section", ["by_client_addr"])
def test_readme_json_keys_match_the_output(lab_primary: LabCluster, section: str) -> None:
    from conftest import REPO

    doc = json.loads(run_cli("pool-stats", "--json", env={"DATABASE_URL": lab_primary.app_url()}).stdout)
    readme = (REPO / "README.md").read_text()
    keys = re.search(r"`--json` prints ([^.]*)\.", readme.split("### `neondoctor pool-stats`", 1)[1])
    assert keys, "the README lists the pool-stats --json keys"
    listed = set(re.findall(r"`([a-z_]+)`", keys.group(1)))
    assert section in listed and listed <= set(doc), listed - set(doc)


APP_SIDE = {"neondoctor_pool_size", "neondoctor_pool_checked_out", "neondoctor_pool_overflow",
            "neondoctor_pool_checkout_wait_seconds", "neondoctor_pool_checkout_timeouts_total",
            "neondoctor_pool_preping_invalidations_total", "neondoctor_connect_retries_total",
            "neondoctor_connect_seconds"}


def test_grafana_dashboard_and_readme_name_only_real_metrics() -> None:
    from conftest import REPO

    from neondoctor.pool_stats.model import Snapshot

    snap = Snapshot.from_document({
        "version": "16.2", "version_num": 160002, "max_connections": 10, "superuser_reserved_connections": 3,
        "reserved_connections": 0, "in_use": 1, "current_user": "app", "is_superuser": False,
        "read_all_stats": True, "self_pid": 1, "by_state": {"idle in transaction": 1},
        "groups": [{"dim": "application", "key": "web", "connections": 1, "active": 0, "idle": 0,
                    "idle_in_transaction": 1, "hidden": 0, "oldest_idle_s": None,
                    "longest_idle_in_transaction_s": 2.0, "idle_over_recycle": 0, "waiting_on_lock": 0}]})
    exported = {f.name for f in text_string_to_metric_families(
        prometheus_text(snap, pooler_waiting=0, scrape_seconds=0.1))}
    dashboard = json.loads((REPO / "contrib" / "grafana" / "neondoctor.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {re.sub(r"_(bucket|count|sum)$", "", m) for e in exprs for m in re.findall(r"neondoctor_[a-z_]+", e)}
    assert used - exported - APP_SIDE == set()
    assert exported <= used, "every server metric has a panel"
    assert used >= APP_SIDE, "every app-side metric has a panel"
    readme = (REPO / "README.md").read_text()
    for name in exported | APP_SIDE:
        short = name.rsplit("_connections", 1)
        assert name in readme or (len(short) == 2 and f"`_{short[1].lstrip('_')}`" in readme), name


def test_a_silent_client_does_not_block_the_exporter(make_cluster: Any) -> None:
    import socket

    cluster = make_cluster(LabSpec(max_connections=20))
    with serving(cluster.app_url()) as endpoint:
        port = int(endpoint.rsplit(":", 1)[1].split("/")[0])
        with socket.create_connection(("127.0.0.1", port)):  # connects, never sends a request
            started = time.monotonic()
            assert scrape(endpoint)[1][("neondoctor_server_up", ())] == 1
            assert time.monotonic() - started < 15
