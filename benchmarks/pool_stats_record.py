"""`pool-stats record`: server cost per sample, recorder time per sample, and the recording's size per day.

Run: uv run python benchmarks/pool_stats_record.py [--sizes 100,1000] [--samples 200] [--apps 4]

Starts a throwaway lab cluster (trust auth, max_connections = largest size + 100), opens idle
connections spread over `--apps` application names (one in ten idle in transaction), then for each
size:
  * server time of the one sample statement (EXPLAIN ANALYZE, planning + execution),
  * a real recording of `--samples` samples (the `record()` loop the CLI runs, interval 0: back to
    back): recorder wall time per sample (query + JSON decode + SQLite commit),
  * bytes per sample in the SQLite file after a checkpoint, and what a day is at the default
    interval (15 s: 5,760 samples).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pool_stats_cost import explain_ms, fmt

from neondoctor.lab.cluster import LabSpec, temporary_cluster
from neondoctor.pool_stats.record import DEFAULT_INTERVAL_S, record
from neondoctor.pool_stats.store import Store
from neondoctor.url import parse_url


def open_connections(cluster: Any, total: int, apps: int, conns: list[Any]) -> None:
    while len(conns) < total:
        i = len(conns)
        conn = cluster.connect(user="app", database="neondoctor_lab", application_name=f"app-{i % apps}",
                               autocommit=i % 10 != 0)
        if i % 10 == 0:
            conn.cursor().execute("SELECT 1")
        conns.append(conn)


def recording(cluster: Any, samples: int) -> tuple[list[float], float]:
    """Per-sample recorder wall times (ms) and bytes per sample row."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        parsed = parse_url(cluster.app_url())
        store = Store(path, target=parsed.masked(), interval_s=0.0)
        store.close()
        empty = path.stat().st_size
        store = Store(path, target=parsed.masked(), interval_s=0.0)
        times: list[float] = []
        last = [time.perf_counter()]

        def tick(_: Any) -> None:
            now = time.perf_counter()
            times.append((now - last[0]) * 1000)
            last[0] = now

        try:
            last[0] = time.perf_counter()
            # duration bounds the loop; interval 0 samples back to back
            summary = record(parsed, store, interval_s=0.0, duration_s=600, on_sample=_stop_after(samples, tick))
        finally:
            store.close()
        assert summary.samples >= samples
        size = path.stat().st_size
        return times[1:], (size - empty) / summary.samples


def _stop_after(samples: int, tick: Any) -> Any:
    count = [0]

    def on_sample(snap: Any) -> None:
        tick(snap)
        count[0] += 1
        if count[0] >= samples:
            raise KeyboardInterrupt  # how Ctrl-C ends a recording: the file is closed cleanly

    return on_sample


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--apps", type=int, default=4, help="distinct application names")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    spec = LabSpec(auth="trust", max_connections=max(sizes) + 100, settings={"shared_buffers": "64MB"})
    per_day = 86400 / DEFAULT_INTERVAL_S
    conns: list[Any] = []
    with temporary_cluster(spec) as cluster:
        print(f"PostgreSQL {cluster.state.version}, {args.apps} application names, {args.samples} samples per size")
        try:
            for size in sizes:
                open_connections(cluster, size, args.apps, conns)
                explain_ms(cluster, 2)
                print(f"\n{size} connections open")
                print(f"  server, one sample (EXPLAIN ANALYZE):      {fmt(explain_ms(cluster, 20))}")
                times, per_sample = recording(cluster, args.samples)
                print(f"  recorder, one sample incl. SQLite commit:  {fmt(times)}")
                print(f"  recording size: {per_sample:.0f} bytes/sample -> {per_sample * per_day / 1e6:.2f} MB/day "
                      f"at the default {DEFAULT_INTERVAL_S:g} s interval ({per_day:.0f} samples); "
                      f"median {statistics.median(times):.1f} ms of work per {DEFAULT_INTERVAL_S:g} s")
        finally:
            for conn in conns:
                conn.close()


if __name__ == "__main__":
    main()
