"""`neondoctor triage --log` against `grep -c -F -f PATTERNS` over the same synthetic log, in one run.

The log (made here, under /tmp, deleted after) holds 0.1% error lines drawn from real connection-error
messages and ordinary application lines otherwise. PATTERNS are the literal phrases of the shipped
runbooks, exactly those the matcher pre-filters on. Goal: throughput ≥ 0.5× grep; peak RSS flat in
file size (measured at two sizes with wait4's rusage of each child).

    uv run python benchmarks/log_scan.py [--mb 200] [--small-mb 50] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _lab import NEONDOCTOR, REPO, env_with, header

from neondoctor.triage.matcher import Matcher
from neondoctor.triage.runbook import load_runbooks

GOAL = 0.5
ERROR_RATE = 0.001
# Real messages as drivers and servers print them (see the runbooks' golden cases).
ERRORS = [
    'psycopg2.OperationalError: connection to server at "db.internal" (10.0.3.7), port 5432 failed: '
    'FATAL:  password authentication failed for user "app"',
    'sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection to server at "10.0.3.7", port 5432 '
    'failed: Connection refused',
    "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00 "
    "(Background on this error at: https://sqlalche.me/e/20/3o7r)",
    "psycopg2.OperationalError: FATAL:  remaining connection slots are reserved for non-replication superuser "
    "connections",
    "psycopg2.OperationalError: server closed the connection unexpectedly",
    'could not translate host name "db.internal" to address: Name or service not known',
    "asyncpg.exceptions.TooManyConnectionsError: sorry, too many clients already",
    "psycopg2.OperationalError: SSL SYSCALL error: EOF detected",
    "sqlalchemy.exc.NoSuchModuleError: Can't load plugin: sqlalchemy.dialects:postgres",
    "FATAL:  terminating connection due to administrator command",
]
WORDS = ["user", "order", "item", "cart", "payment", "invoice", "session", "cache", "job", "worker", "queue", "batch", "report", "export", "upload", "email", "webhook", "retry", "scheduled", "completed", "started", "finished", "handled", "accepted"]
PATHS = ["/api/orders", "/api/items/42", "/health", "/login", "/api/cart", "/static/app.js", "/api/report"]


def ordinary(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.5:
        return (f'INFO web: {rng.choice(["GET", "POST", "PUT"])} {rng.choice(PATHS)} {rng.choice([200, 200, 201, 304, 404])} '
                f"{rng.uniform(1, 300):.1f}ms user_id={rng.randrange(100000)} request_id={rng.getrandbits(64):016x}")
    if kind < 0.8:
        return (f"INFO worker: {rng.choice(WORDS)} {rng.choice(WORDS)} {' '.join(rng.choices(WORDS, k=rng.randint(2, 8)))} "
                f"id={rng.randrange(10**6)} took={rng.randrange(2000)}ms")
    if kind < 0.95:
        return f"DEBUG sqlalchemy.engine: SELECT orders.id, orders.total FROM orders WHERE orders.user_id = %(user_id)s [{rng.random():.4f}s]"
    return f"WARNING app: slow {rng.choice(WORDS)} handler took {rng.randrange(1000, 9000)}ms, retrying in {rng.randrange(1, 30)}s"


def make_log(path: Path, megabytes: int, seed: int = 7) -> int:
    """Write the synthetic log; returns how many error lines it holds."""
    rng = random.Random(seed)
    pool = [ordinary(rng) for _ in range(20000)]
    target, size, errors, second = megabytes * 1_000_000, 0, 0, 0
    with path.open("w", encoding="utf-8") as fh:
        lines: list[str] = []
        while size < target:
            second += 1
            stamp = f"2026-11-{1 + second // 86400 % 28:02d}T{second // 3600 % 24:02d}:{second // 60 % 60:02d}:{second % 60:02d}.{rng.randrange(1000):03d}Z"
            if rng.random() < ERROR_RATE:
                line = f"{stamp} ERROR app: {rng.choice(ERRORS)}\n"
                errors += 1
            else:
                line = f"{stamp} {rng.choice(pool)}\n"
            lines.append(line)
            size += len(line)
            if len(lines) >= 10000:
                fh.write("".join(lines))
                lines = []
        fh.write("".join(lines))
    return errors


def run_child(cmd: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stdout) of one child process, RSS from its own rusage."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, env=env_with(), cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    return elapsed, usage.ru_maxrss / 1024, text


def measure(path: Path, patterns: Path, runs: int) -> dict[str, tuple[float, float, str]]:
    cmds = {
        "grep -c -F -f": ["grep", "-c", "-F", "-f", str(patterns), str(path)],
        "grep -c -i -F -f": ["grep", "-c", "-i", "-F", "-f", str(patterns), str(path)],
        "neondoctor triage --log": [*NEONDOCTOR, "triage", "--log", str(path), "--json"],
    }
    results: dict[str, list[tuple[float, float, str]]] = {name: [] for name in cmds}
    run_child(cmds["grep -c -F -f"])  # warm-up: the file in the page cache for everyone
    for _ in range(runs):
        for name, cmd in cmds.items():
            results[name].append(run_child(cmd))
    return {name: (statistics.median(r[0] for r in rs), max(r[1] for r in rs), rs[-1][2]) for name, rs in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--small-mb", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    opts = parser.parse_args()
    header(f"log scan: {opts.small_mb} MB and {opts.mb} MB synthetic logs, {ERROR_RATE:.1%} error lines, "
           f"median of {opts.runs} interleaved runs")
    literals = Matcher(load_runbooks()).literals
    with tempfile.TemporaryDirectory(prefix="neondoctor-logbench-", dir="/tmp") as tmp:
        patterns = Path(tmp) / "PATTERNS"
        patterns.write_text("\n".join(literals) + "\n", encoding="utf-8")
        print(f"PATTERNS: {len(literals)} literal phrases from the shipped runbooks (the matcher's pre-filter)")
        rss: dict[int, float] = {}
        for mb in (opts.small_mb, opts.mb):
            log = Path(tmp) / f"app-{mb}.log"
            injected = make_log(log, mb)
            size = log.stat().st_size
            res = measure(log, patterns, opts.runs)
            print(f"\n{size / 1e6:.0f} MB, {injected} error lines injected:")
            for name, (secs, peak, _) in res.items():
                print(f"  {name:<26} {secs:6.2f} s  {size / 1e6 / secs:7.1f} MB/s  peak RSS {peak:6.1f} MB")
            nd_secs, nd_rss, nd_out = res["neondoctor triage --log"]
            doc = json.loads(nd_out)
            found = {i["runbook"]: i["count"] for i in doc["incidents"]}
            print(f"  neondoctor found {sum(found.values())} incidents: {found}")
            for ref in ("grep -c -F -f", "grep -c -i -F -f"):
                ratio = res[ref][0] / nd_secs
                goal = f" (goal ≥ {GOAL}×: {'MET' if ratio >= GOAL else 'MISSED'})" if ref == "grep -c -F -f" else ""
                print(f"  throughput neondoctor / {ref}: {ratio:.2f}×{goal}")
            rss[mb] = nd_rss
            log.unlink()
        small, big = rss[opts.small_mb], rss[opts.mb]
        print(f"\npeak RSS of neondoctor: {small:.1f} MB at {opts.small_mb} MB, {big:.1f} MB at {opts.mb} MB "
              f"({'flat' if big <= small * 1.1 + 2 else 'GROWS with file size'})")


if __name__ == "__main__":
    main()
