"""`pool-stats record` + `report` against real PostgreSQL: a scripted load, a restart, a killed recorder."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from neondoctor.lab.cluster import LabCluster, LabSpec, wait_until
from neondoctor.pool_stats import evidence, sizing
from neondoctor.pool_stats.store import Row, Store

INTERVAL = 0.2


def recorder(url: str, out: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"DATABASE_URL": url, "NO_COLOR": "1"})
    return subprocess.Popen([sys.executable, "-m", "neondoctor", "pool-stats", "record", "--out", str(out),
                             "--interval", str(INTERVAL), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def samples_in(out: Path) -> int:
    if not out.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(out)) as db:
            return int(db.execute("SELECT count(*) FROM samples WHERE kind = 'sample'").fetchone()[0])
    except sqlite3.Error:  # created but its schema not written yet
        return 0


def report_json(url: str, out: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    result = run_cli("pool-stats", "report", str(out), "--json", *args, env={"DATABASE_URL": url})
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout), result.stdout + result.stderr


def by_name(rows: list[dict[str, Any]], name: str, key: str = "name") -> dict[str, Any]:
    return next(r for r in rows if r[key] == name)


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Ctrl-C, as a user stops a recording; the caller checks the exit code and output."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    return proc.communicate(timeout=30)


def assert_clean_stop(proc: subprocess.Popen[str], err: str) -> None:
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "stopped (interrupt)" in err


# ------------------------------------------------------------------------------ the scripted load


def test_recording_of_a_scripted_load_gives_the_scripted_report(make_cluster: Any, tmp_path: Path) -> None:
    """web: 2 idle pooled sessions, then 6 busy for 2.5 s; leaky: one more idle-in-transaction session every 0.5 s."""
    cluster = make_cluster(LabSpec(max_connections=30, superuser_reserved_connections=3))
    url = cluster.app_url()
    out = tmp_path / "pool.db"
    conns: list[Any] = []

    def connect(app: str, **kw: Any) -> Any:
        conn = cluster.connect(user="app", database="neondoctor_lab", application_name=app, **kw)
        conns.append(conn)
        return conn

    def busy() -> None:
        conn = cluster.connect(user="app", database="neondoctor_lab", application_name="web")
        try:
            conn.cursor().execute("SELECT pg_sleep(2.5)")
        finally:
            conn.close()

    proc = recorder(url, out)
    try:
        for _ in range(2):
            connect("web")
        assert wait_until(lambda: samples_in(out) >= 3, timeout=20)
        marks: dict[str, float] = {"leak_start": time.time()}
        for _ in range(6):  # the leaker: idle in transaction, never given back
            connect("leaky", autocommit=False).cursor().execute("SELECT 1")
            time.sleep(0.5)
        marks["leak_end"] = time.time()
        time.sleep(1.0)
        marks["peak_start"] = time.time()
        workers = [threading.Thread(target=busy) for _ in range(6)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(30)
        marks["peak_end"] = time.time()
        time.sleep(1.5)
    finally:
        _, err = stop(proc)
        for c in conns:
            c.close()
    assert_clean_stop(proc, err)

    code, doc, text = report_json(url, out, "--processes", "1")
    assert code == 1, "a leak episode is a finding"
    web = by_name(doc["by_application"], "web")
    leaky = by_name(doc["by_application"], "leaky")
    assert (web["peak"], web["p95"], web["p99"], web["busy_peak"], web["busy_p95"]) == (8, 8, 8, 6, 6)
    assert marks["peak_start"] <= web["peak_at"] <= marks["peak_end"]
    assert (leaky["peak"], leaky["busy_peak"]) == (6, 6)
    assert doc["available"] == 27 and doc["total"]["peak"] == 14 and doc["headroom"] == 13
    assert by_name(doc["by_user"], "app")["peak"] == 14

    episodes = doc["leak_episodes"]
    assert [e["application"] for e in episodes] == ["leaky"], episodes
    ep = episodes[0]
    assert ep["kind"] == "idle-in-transaction" and ep["idle_in_transaction_to"] == 6
    # A leaky session is active only for its one `SELECT 1`: a sample may catch that instant.
    assert ep["idle_in_transaction_from"] <= 1 and ep["active_range"][0] == 0 and ep["active_range"][1] <= 1
    assert marks["leak_start"] - 1 <= ep["start"] <= marks["leak_start"] + 1
    assert marks["leak_end"] - 1.5 <= ep["end"] <= marks["leak_end"] + 0.5

    # processes=1: web's busy p95 is 6 per process -> pool_size 6; its peak 6 fits 6 + 5; budget 27 - 6 (leaky).
    recs = {r["application"]: r for r in doc["recommendations"]}
    assert (recs["web"]["pool_size"], recs["web"]["max_overflow"], recs["web"]["budget"]) == (6, 5, 21)
    assert recs["web"]["fits"] is True
    assert (recs["leaky"]["pool_size"], recs["leaky"]["max_overflow"]) == (3, 5)
    assert recs["leaky"]["reasons"][0].startswith("leak first")
    # processes=3: web stays at the small start (6 busy / 3 = 2 per process) but 3 x 8 > 21: overflow cut to 4.
    _, doc3, _ = report_json(url, out, "--processes", "3")
    recs3 = {r["application"]: r for r in doc3["recommendations"]}
    assert (recs3["web"]["pool_size"], recs3["web"]["max_overflow"]) == (3, 4)
    assert (recs3["leaky"]["pool_size"], recs3["leaky"]["max_overflow"]) == (3, 3)  # 27 - 8 (web) = 19 / 3 = 6

    text_report = run_cli("pool-stats", "report", str(out), "--processes", "1")
    assert "WARN leaky" in text_report.stdout and "pool_size=6 max_overflow=5" in text_report.stdout
    for output in (text, text_report.stdout, text_report.stderr, err, out.read_bytes().decode("latin-1")):
        assert cluster.state.app_password not in output


# ------------------------------------------------------------------------------ resilience


def test_server_restart_mid_recording_is_a_gap_and_recording_goes_on(make_cluster: Any, tmp_path: Path) -> None:
    cluster: LabCluster = make_cluster(LabSpec(max_connections=20))
    url = cluster.app_url()
    out = tmp_path / "restart.db"
    proc = recorder(url, out)
    try:
        assert wait_until(lambda: samples_in(out) >= 5, timeout=20)
        before = samples_in(out)
        down_at = time.time()
        cluster.stop()
        time.sleep(1.5)
        assert proc.poll() is None, "the recorder must survive the server going away"
        cluster.start()
        up_at = time.time()
        assert wait_until(lambda: samples_in(out) >= before + 5, timeout=30), "recording must continue"
    finally:
        _, err = stop(proc)
    assert_clean_stop(proc, err)
    assert "gap" in err
    _, doc, text = report_json(url, out)
    gaps = [g for g in doc["gaps"] if g["kind"] == "gap"]
    assert len(gaps) == 1, doc["gaps"]
    assert down_at - 0.5 <= gaps[0]["start"] <= up_at and gaps[0]["end"] >= gaps[0]["start"]
    assert doc["samples"] >= before + 5
    assert cluster.state.app_password not in text + err


def test_killed_recorder_resumes_its_file_without_losing_samples(make_cluster: Any, tmp_path: Path) -> None:
    cluster = make_cluster(LabSpec(max_connections=20))
    url = cluster.app_url()
    out = tmp_path / "killed.db"
    proc = recorder(url, out)
    assert wait_until(lambda: samples_in(out) >= 5, timeout=20)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    kept = samples_in(out)
    assert kept >= 5
    again = recorder(url, out, "--duration", "1.5")
    _, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert "(resuming)" in err
    assert samples_in(out) >= kept + 4
    _, doc, _ = report_json(url, out)
    assert doc["samples"] == samples_in(out)
    assert [g["kind"] for g in doc["gaps"]] == ["recorder"] and "killed" in doc["gaps"][0]["reason"]


def test_recording_of_another_server_or_not_a_recording_is_refused(make_cluster: Any, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    Store(other, target="postgresql+psycopg2://u:****@elsewhere:5432/db", interval_s=1).close()
    cluster = make_cluster(LabSpec(max_connections=20))
    result = run_cli("pool-stats", "record", "--out", str(other), "--duration", "1",
                     env={"DATABASE_URL": cluster.app_url()})
    assert result.returncode == 2 and "records another server" in result.stderr
    junk = tmp_path / "junk.db"
    junk.write_text("not sqlite at all " * 100)
    for args in (("record", "--out", str(junk), "--duration", "1"), ("report", str(junk)),
                 ("report", str(tmp_path / "missing.db")), ("record", "--out", str(tmp_path / "x.db"),
                                                             "--interval", "nan")):
        r = run_cli("pool-stats", *args, env={"DATABASE_URL": cluster.app_url()})
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr
    assert junk.read_text().startswith("not sqlite"), "a file that is not a recording is never overwritten"


def test_no_password_anywhere_in_record_and_report(make_cluster: Any, tmp_path: Path) -> None:
    cluster = make_cluster(LabSpec(max_connections=20))
    password = f"Rec-{secrets.token_hex(10)}-Pw"
    cluster.create_role("recorder_role", password, grants=("pg_monitor",))
    url = cluster.url(user="recorder_role", password=password)
    out = tmp_path / "pw.db"
    rec = run_cli("pool-stats", "record", "--out", str(out), "--interval", "0.2", "--duration", "1",
                  "--pgbouncer-url", url.replace("/neondoctor_lab", "/pgbouncer"), "-v", env={"DATABASE_URL": url})
    assert rec.returncode == 0, rec.stderr
    html = tmp_path / "pw.html"
    rep = run_cli("pool-stats", "report", str(out), "--html", str(html), env={"DATABASE_URL": url})
    rep_json = run_cli("pool-stats", "report", str(out), "--json", env={"DATABASE_URL": url})
    files = [out.read_bytes().decode("latin-1"), html.read_text()]
    for text in (rec.stdout, rec.stderr, rep.stdout, rep.stderr, rep_json.stdout, *files):
        assert password not in text
    assert "****" in rep.stdout


# ------------------------------------------------------------------------------ pure: evidence and sizing


def _row(t: float, apps: dict[str, list[int]], available: int = 20) -> Row:
    in_use = sum(v[0] for v in apps.values())
    return Row(t=t, kind="sample", in_use=in_use, available=available, max_connections=available + 3,
               active=sum(v[1] for v in apps.values()), idle_in_transaction=sum(v[3] for v in apps.values()),
               groups={"a": {k: [*v, 0, None] for k, v in apps.items()}, "u": {}})


def test_percentiles_are_nearest_rank() -> None:
    assert evidence.percentile(list(range(1, 101)), 95) == 95
    assert evidence.percentile([1] * 19 + [9], 95) == 1 and evidence.percentile([1] * 19 + [9], 99) == 9
    assert evidence.percentile([], 95) == 0


def test_a_pool_warming_under_load_is_not_a_leak_but_a_quiet_climb_is() -> None:
    # [connections, active, idle, idle_in_transaction]
    load = [_row(i, {"web": [2 + i, i, 2, 0]}) for i in range(6)]  # grows with active: load
    leak = [_row(i, {"bad": [1 + i, 1, i, 0]}) for i in range(6)]  # grows with active flat: a leak
    assert evidence.build(load, target="t", interval_s=1).episodes == []
    eps = evidence.build(leak, target="t", interval_s=1).episodes
    assert [(e.application, e.kind, e.start, e.end, e.held_from, e.held_to) for e in eps] == [
        ("bad", "held-climbing", 0, 5, 0, 5)]


def test_a_gap_splits_the_series_and_no_episode_spans_it() -> None:
    rows = [_row(0, {"a": [1, 0, 1, 0]}), _row(1, {"a": [2, 0, 2, 0]}),
            Row(t=1.5, kind="gap", t_end=5, note="server down"),
            _row(6, {"a": [3, 0, 3, 0]}), _row(7, {"a": [4, 0, 4, 0]})]
    ev = evidence.build(rows, target="t", interval_s=1)
    assert [g.reason for g in ev.gaps] == ["server down"] and ev.episodes == []
    assert ev.series.t == [0, 1, None, 6, 7]


@pytest.mark.parametrize("busy, processes, others, expect", [
    ((2, 2), 1, 0, (3, 5)),     # no pressure: the small start
    ((6, 5), 1, 0, (5, 5)),     # p95 5 > 3: pool_size 5; peak 6 < 5 + 5
    ((20, 10), 1, 0, (10, 10)),  # peak 20 > 10 + 5: overflow covers it
    ((20, 10), 2, 0, (5, 5)),   # per process: p95 5, peak 10 = 5 + 5
    ((20, 10), 1, 15, (5, 0)),  # 20 available - 15 others = 5: overflow cut first, then pool_size
])
def test_sizing_rules(busy: tuple[int, int], processes: int, others: int, expect: tuple[int, int]) -> None:
    usage = evidence.Usage("web", busy[0], 0.0, busy[1], busy[0], busy[0], busy[1], busy[0])
    rec = sizing.recommend(usage, processes=processes, available=20, others_peak=others, leaking=False)
    assert (rec.pool_size, rec.max_overflow) == expect, rec.reasons
    assert rec.worst_case <= rec.budget


def test_sizing_leak_first_and_does_not_fit() -> None:
    usage = evidence.Usage("web", 30, 0.0, 30, 30, 30, 30, 30)
    leak = sizing.recommend(usage, processes=1, available=100, others_peak=0, leaking=True)
    assert (leak.pool_size, leak.max_overflow) == (3, 5) and "leak first" in leak.reasons[0]
    full = sizing.recommend(usage, processes=4, available=10, others_peak=8, leaking=False)
    assert full.fits is False and "does not fit" in full.reasons[-1]


def test_respect_suspend_pauses_while_quiet_with_no_connection_open(make_cluster: Any, tmp_path: Path) -> None:
    """Neon's scale to zero: a quiet sample pauses the recorder with its connection closed; busy ones do not."""
    cluster = make_cluster(LabSpec(max_connections=20))
    out = tmp_path / "quiet.db"
    proc = recorder(cluster.app_url(), out, "--respect-suspend", "--quiet-pause", "2s")

    def recorder_sessions() -> int:
        rows = cluster.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'neondoctor'")
        return int(rows[0][0])

    try:
        assert wait_until(lambda: samples_in(out) >= 1, timeout=20)
        time.sleep(0.5)
        assert recorder_sessions() == 0, "paused: no connection that could keep a compute awake"
        assert samples_in(out) == 1
        busy = cluster.connect(user="app", database="neondoctor_lab", application_name="web", autocommit=False)
        busy.cursor().execute("SELECT 1")  # idle in transaction counts as activity for Neon
        assert wait_until(lambda: samples_in(out) >= 5, timeout=20), "busy: sampling every interval again"
        busy.close()
    finally:
        _, err = stop(proc)
    assert_clean_stop(proc, err)
    with contextlib.closing(sqlite3.connect(out)) as db:
        pauses = db.execute("SELECT count(*) FROM samples WHERE kind = 'pause'").fetchone()[0]
    assert pauses >= 1
    _, doc, _ = report_json(cluster.app_url(), out)
    assert "pause" in {g["kind"] for g in doc["gaps"]}


def test_slots_full_while_recording_is_a_full_gap_and_a_finding(make_cluster: Any, tmp_path: Path) -> None:
    cluster = make_cluster(LabSpec(max_connections=6, superuser_reserved_connections=3))  # 3 for ordinary roles
    out = tmp_path / "full.db"
    conns = [cluster.connect(user="app", database="neondoctor_lab", application_name="hog") for _ in range(3)]
    proc = recorder(cluster.app_url(), out)
    try:
        def refused() -> bool:
            with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(out)) as db:
                return bool(db.execute("SELECT 1 FROM samples WHERE kind = 'full'").fetchone())
            return False

        assert wait_until(lambda: out.exists() and refused(), timeout=20), "the refusal is recorded"
        assert proc.poll() is None
        conns.pop().close()
        assert wait_until(lambda: samples_in(out) >= 3, timeout=20), "recording starts when a slot frees"
    finally:
        _, err = stop(proc)
        for c in conns:
            c.close()
    assert_clean_stop(proc, err)
    code, doc, _ = report_json(cluster.app_url(), out)
    assert code == 1
    full = [g for g in doc["gaps"] if g["kind"] == "full"]
    assert len(full) == 1 and "remaining connection slots are reserved" in full[0]["reason"]
    assert by_name(doc["by_application"], "hog")["peak"] == 2


def test_a_kept_connection_that_died_while_idle_is_replaced_without_a_gap(lab_primary: LabCluster) -> None:
    """Neon's scale to zero or idle_session_timeout ends the idle connection; the server itself is fine."""
    from neondoctor.pool_stats.sampling import Sampler
    from neondoctor.url import parse_url

    sampler = Sampler(parse_url(lab_primary.app_url()))
    try:
        first = sampler.sample()
        lab_primary.execute("SELECT pg_terminate_backend(%s)", (first.visibility.self_pid,))
        time.sleep(0.2)
        second = sampler.sample()
        assert second.visibility.self_pid != first.visibility.self_pid
    finally:
        sampler.close()


def test_recorder_memory_stays_flat(lab_primary: LabCluster, tmp_path: Path) -> None:
    """Rows are written and forgotten: Python memory after 400 samples is what it was after 100."""
    import tracemalloc

    from neondoctor.pool_stats.record import record
    from neondoctor.url import parse_url

    parsed = parse_url(lab_primary.app_url())
    store = Store(tmp_path / "flat.db", target=parsed.masked(), interval_s=0.0)
    seen: list[int] = []

    def on_sample(_: Any) -> None:
        seen.append(tracemalloc.get_traced_memory()[0])
        if len(seen) >= 400:
            raise KeyboardInterrupt

    tracemalloc.start()
    try:
        summary = record(parsed, store, interval_s=0.0, duration_s=300, on_sample=on_sample)
    finally:
        tracemalloc.stop()
        store.close()
    assert summary.samples == 400 and summary.stopped_by == "interrupt"
    growth = max(seen[300:]) - max(seen[50:100])
    assert growth < 64 * 1024, f"memory grew by {growth} bytes between sample 100 and 400"
