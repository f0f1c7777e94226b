"""neondoctor's connect-vs-pooled ratio next to pgbench's, on one local lab server, in one run.

pgbench -C opens a new connection per transaction; plain pgbench keeps one per client. The ratio of
their per-transaction latencies is the reference for `neondoctor latency`'s "a new connection
costs N× a pooled checkout". Both run SELECT-only, one client, against the same server.

    uv run python benchmarks/latency_vs_pgbench.py [--seconds 5] [--rounds 30]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess

from _lab import NEONDOCTOR, env_with, header, lab_cluster

from neondoctor.lab.cluster import APP_DATABASE, APP_USER


def pgbench(cluster, seconds: int, *, connect: bool) -> float:  # type: ignore[no-untyped-def]
    """Average latency per transaction in ms (pgbench's own figure)."""
    tool = str(cluster.state.install_bindir) + "/pgbench"
    args = [tool, "-n", "-S", "-T", str(seconds), "-c", "1", "-h", "127.0.0.1", "-p", str(cluster.port),
            "-U", APP_USER, APP_DATABASE]
    if connect:
        args.insert(1, "-C")
    env = env_with(PGPASSWORD=cluster.state.app_password, PGCONNECT_TIMEOUT="5")
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    match = re.search(r"latency average = ([\d.]+) ms", out)
    if not match:
        raise SystemExit(f"pgbench printed no latency:\n{out}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="pgbench -T")
    parser.add_argument("--rounds", type=int, default=30, help="neondoctor latency --rounds")
    opts = parser.parse_args()
    header("latency: neondoctor vs pgbench, connect per query vs persistent")
    with lab_cluster() as cluster:
        init = str(cluster.state.install_bindir) + "/pgbench"
        subprocess.run([init, "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", APP_USER,
                        APP_DATABASE], env=env_with(PGPASSWORD=cluster.state.app_password), check=True,
                       capture_output=True, timeout=120)
        url = cluster.app_url(driver=None)  # a bare postgresql:// on purpose: neondoctor uses psycopg2
        out = subprocess.run([*NEONDOCTOR, "latency", "--rounds", str(opts.rounds), "--json"],
                             env=env_with(DATABASE_URL=url), capture_output=True, text=True, check=True, timeout=300)
        doc = json.loads(out.stdout)
        persistent = pgbench(cluster, opts.seconds, connect=False)
        per_connect = pgbench(cluster, opts.seconds, connect=True)
    stages = doc["stages"]
    print(f"server: PostgreSQL {cluster.state.version} on 127.0.0.1, TLS {doc['tls']}, scram-sha-256")
    print(f"{'':34}{'new connection':>16}{'pooled/persistent':>20}{'ratio':>9}")
    nd_new, nd_pool = stages["new_connection"]["median_ms"], stages["pooled"]["median_ms"]
    print(f"{'neondoctor latency (median)':34}{nd_new:>13.3f} ms{nd_pool:>17.3f} ms{nd_new / nd_pool:>8.1f}×")
    print(f"{'pgbench -S -C vs -S (avg)':34}{per_connect:>13.3f} ms{persistent:>17.3f} ms"
          f"{per_connect / persistent:>8.1f}×")
    print(f"neondoctor breakdown (median ms): dns {stages['dns']['median_ms']}, tcp {stages['tcp']['median_ms']}, "
          f"connect {stages['connect']['median_ms']}, auth≈{stages['auth']['median_ms']}, "
          f"first query {stages['first_query']['median_ms']}, pre_ping checkout {stages['pooled_pre_ping']['median_ms']}")
    print("note: pgbench's persistent figure is a bare libpq round trip; neondoctor's pooled figure is a "
          "SQLAlchemy checkout + SELECT 1 + checkin, so its ratio is expected to be lower.")


if __name__ == "__main__":
    main()
