"""Server-side cost of one `pool-stats` sample with 100 and 1000 client connections open.

Run: uv run python benchmarks/pool_stats_cost.py [--sizes 100,1000] [--repeat 20]

Starts a throwaway lab cluster (max_connections=1100, trust auth so that opening a thousand
connections is quick), opens idle connections spread over a few application names (some idle in
transaction), then measures the ONE sample statement two ways:
  * EXPLAIN (ANALYZE, BUFFERS) execution time on the server,
  * wall time of `sample()` as pool-stats runs it (one connection, query + JSON decode).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neondoctor import pool_stats as ps
from neondoctor.lab.cluster import LabSpec, temporary_cluster
from neondoctor.url import parse_url


def open_connections(cluster: Any, total: int, conns: list[Any]) -> None:
    apps = ("web", "worker", "leaky-app", "cron")
    while len(conns) < total:
        i = len(conns)
        conn = cluster.connect(user="app", database="neondoctor_lab", application_name=apps[i % len(apps)],
                               autocommit=i % 10 != 0)
        if i % 10 == 0:  # one in ten idle in transaction
            conn.cursor().execute("SELECT 1")
        conns.append(conn)


def explain_ms(cluster: Any, repeat: int) -> list[float]:
    conn = cluster.connect(user="app", database="neondoctor_lab")
    times: list[float] = []
    try:
        with conn.cursor() as cur:
            for _ in range(repeat):
                cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + ps.SAMPLE_SQL, {"recycle": 300.0})
                plan = cur.fetchone()[0][0]
                times.append(float(plan["Execution Time"]) + float(plan.get("Planning Time", 0.0)))
    finally:
        conn.close()
    return times


def sample_ms(cluster: Any, repeat: int) -> tuple[list[float], int]:
    times: list[float] = []
    in_use = 0
    with ps.sampler(parse_url(cluster.app_url()), recycle_s=300.0) as sample:
        for _ in range(repeat):
            started = time.perf_counter()
            snap = sample()
            times.append((time.perf_counter() - started) * 1000)
            in_use = snap.server.in_use
    return times, in_use


def fmt(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"median {statistics.median(values):7.2f} ms  p95 {p95:7.2f} ms  max {max(values):7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000", help="connection counts, comma separated")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    spec = LabSpec(auth="trust", max_connections=max(sizes) + 100, settings={"shared_buffers": "64MB"})
    conns: list[Any] = []
    with temporary_cluster(spec) as cluster:
        print(f"PostgreSQL {cluster.state.version}, max_connections {spec.max_connections}, repeat {args.repeat}")
        try:
            for size in sizes:
                started = time.perf_counter()
                open_connections(cluster, size, conns)
                print(f"\n{size} connections open ({time.perf_counter() - started:.1f}s to open)")
                explain_ms(cluster, 2)  # warm the catalog caches
                print(f"  server (EXPLAIN ANALYZE, planning+execution): {fmt(explain_ms(cluster, args.repeat))}")
                times, in_use = sample_ms(cluster, args.repeat)
                print(f"  one pool-stats sample, client wall time:       {fmt(times)}  (in_use seen: {in_use})")
        finally:
            for conn in conns:
                conn.close()


if __name__ == "__main__":
    main()
