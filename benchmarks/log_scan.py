"""`neondoctor triage --log` (each scan backend) against grep and ripgrep over the same log, in one run.

The log (made here, under /tmp, deleted after each size) holds 0.1% error lines drawn from real
connection-error messages and ordinary application lines otherwise. PATTERNS are the matcher's own
literals (those of the shipped runbooks, plus `--extra-literals` synthetic translated-message
conditions to show how the scan keeps its pace as the runbooks grow). Every tool reads the same file
from a warm page cache; runs are interleaved and the median is kept; peak RSS is each child's own.
Wall time is the goal's measure; CPU time (user + sys, from GNU time, children included) is printed
beside it because on a shared machine it is the steadier of the two. A file of 32 MB or more is
read by one process per CPU (triage/logscan/plan.py, parallel.py), so its CPU time exceeds its wall time;
the `1 proc` row holds the same scan to one process (NEONDOCTOR_SCAN_WORKERS=1). Peak RSS is the
largest single process's.

Goals: `triage --log` ≥ 1.0× `rg -c -i -F -f PATTERNS` at 200 MB and ≥ 0.8× at 50 MB; peak RSS flat
(within 10 % from 50 MB to 1 GB); incidents exactly equal to those injected, for both backends.

ripgrep is not a project dependency: install it for the benchmark with `apt-get install -y ripgrep`
(GNU `time`, for the peak RSS of each child, with `apt-get install -y time`).

    uv run python benchmarks/log_scan.py [--sizes 50,200,1000] [--runs 3] [--extra-literals 0]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _lab import NEONDOCTOR, REPO, env_with, header

from neondoctor.triage.matcher import Matcher
from neondoctor.triage.runbook import load_runbooks

GOALS = {50: 0.8, 200: 1.0}  # neondoctor / rg throughput at these sizes (MB)
RSS_FLAT = 0.10
BACKENDS = ("hyperscan", "python")
ONE = "neondoctor (hs, 1 proc)"
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


# Words of PostgreSQL's translated messages, for synthetic conditions when --extra-literals is given.
_FOREIGN_TEXT = ("Verbindung Passwort-Authentifizierung fehlgeschlagen Benutzer Datenbank existiert Zeitüberschreitung "
           "connexion échouée authentification utilisateur données n'existe délai dépassé refusée "
           "conexión autenticación contraseña usuario falló servidor rechazada agotado "
           "соединение пользователь подлинности проверку пароль сервер отказано превышено данных "
           "接続 失敗 パスワード認証 ユーザ データベース 存在しません 服务器 连接 用户 密码认证 "
           "połączenie uwierzytelnianie użytkownik hasło odmówiono bağlantı kimlik doğrulaması başarısız")
FOREIGN = _FOREIGN_TEXT.split()


def extra_runbooks(directory: Path, count: int) -> None:
    """One runbook with `count` conditions of 2-3 foreign words each (distinct longest words)."""
    rng = random.Random(5)
    phrases: dict[str, str] = {}
    while len(phrases) < count:
        words = rng.sample(FOREIGN, rng.randint(2, 3))
        words[0] = f"{words[0]}{len(phrases)}"  # a distinct longest word, so each condition adds a literal
        phrases.setdefault(max((w.lower() for w in words), key=len), " ".join(words))
    conditions = "".join(f"  - name: tr-{i}\n    contains: {json.dumps(p, ensure_ascii=False)}\n"
                         for i, p in enumerate(phrases.values()))
    (directory / "translated.yaml").write_text(
        "id: bench-translated\ntitle: Synthetic translated messages\norder: 900\n"
        f"match:\n{conditions}steps:\n  - id: look\n    cause: none\n    manual: none\n", encoding="utf-8")


def run_child(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str, float]:
    """(seconds, peak RSS in MB, stdout, CPU seconds or nan) of one child process.

    RSS: GNU time's %M when installed (its own footprint is ~2 MB), else VmHWM polled from /proc.
    Not wait4's ru_maxrss: on Linux it carries the parent's peak across exec.
    """
    gnu_time = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile(suffix=".rss") as rss_file:
        full = [gnu_time, "-f", "%M %U %S", "-o", rss_file.name, *cmd] if gnu_time else cmd
        start = time.perf_counter()
        proc = subprocess.Popen(full, stdout=out, stderr=subprocess.DEVNULL, env=env, cwd=REPO)
        peak_kb = 0
        while proc.poll() is None:
            if not gnu_time:
                try:
                    status = Path(f"/proc/{proc.pid}/status").read_text()
                    peak_kb = max(peak_kb, int(re.search(r"VmHWM:\s+(\d+)", status).group(1)))  # type: ignore[union-attr]
                except (OSError, AttributeError):
                    pass
            time.sleep(0.002)
        elapsed = time.perf_counter() - start
        cpu = float("nan")
        if gnu_time:
            fields = Path(rss_file.name).read_text().split()
            if len(fields) >= 3:
                peak_kb, cpu = int(fields[-3]), float(fields[-2]) + float(fields[-1])
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    return elapsed, peak_kb / 1024, text, cpu


def commands(log: Path, patterns: Path, books: Path | None) -> dict[str, tuple[list[str], dict[str, str]]]:
    extra = ["--runbooks-dir", str(books)] if books else []
    cmds = {
        "rg -c -i -F -f": (["rg", "-c", "-i", "-F", "-f", str(patterns), str(log)], env_with()),
        "grep -c -F -f": (["grep", "-c", "-F", "-f", str(patterns), str(log)], env_with()),
        "grep -c -i -F -f": (["grep", "-c", "-i", "-F", "-f", str(patterns), str(log)], env_with()),
    }
    for backend in BACKENDS:
        cmds[f"neondoctor ({backend})"] = ([*NEONDOCTOR, "triage", "--log", str(log), "--json", *extra],
                                           env_with(NEONDOCTOR_SCAN_BACKEND=backend))
    # The same scan held to one process (no ranges): what one core does.
    cmds[ONE] = ([*NEONDOCTOR, "triage", "--log", str(log), "--json", *extra],
                 env_with(NEONDOCTOR_SCAN_BACKEND="hyperscan", NEONDOCTOR_SCAN_WORKERS="1"))
    if not shutil.which("rg"):
        raise SystemExit("ripgrep not found: apt-get install -y ripgrep (the benchmark's reference, not a dependency)")
    return cmds


def measure(cmds: dict[str, tuple[list[str], dict[str, str]]], runs: int
            ) -> dict[str, tuple[float, float, str, float]]:
    """name -> (median seconds, max peak RSS MB, last stdout, median CPU seconds)."""
    results: dict[str, list[tuple[float, float, str, float]]] = {name: [] for name in cmds}
    for cmd, env in cmds.values():
        run_child(cmd, env)  # warm-up: the file in the page cache, .pyc files and the scan cache written
    for _ in range(runs):
        for name, (cmd, env) in cmds.items():
            results[name].append(run_child(cmd, env))
    return {name: (statistics.median(r[0] for r in rs), max(r[1] for r in rs), rs[-1][2],
                   statistics.median(r[3] for r in rs)) for name, rs in results.items()}


def expected_incidents(log: Path, matcher: Matcher) -> dict[str, int]:
    """What was injected, as single-error triage names it: every ERROR line of the generator, matched alone."""
    found: dict[str, int] = {}
    cache: dict[str, str] = {}
    with log.open(encoding="utf-8") as fh:
        for line in fh:
            if " ERROR app: " not in line:
                continue
            message = line.split(" ERROR app: ", 1)[1].rstrip("\n")
            if message not in cache:
                match = matcher.match(message)
                assert match is not None, message
                cache[message] = match.runbook.id
            found[cache[message]] = found.get(cache[message], 0) + 1
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,200,1000", help="log sizes in MB, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--extra-literals", type=int, default=0,
                        help="add this many synthetic translated-message conditions (a bigger literal set)")
    opts = parser.parse_args()
    sizes = [int(s) for s in opts.sizes.split(",")]
    header(f"log scan: {', '.join(f'{s} MB' for s in sizes)} synthetic logs, {ERROR_RATE:.1%} error lines, "
           f"median of {opts.runs} interleaved runs")
    rg = subprocess.run(["rg", "--version"], capture_output=True, text=True).stdout.split("\n")[0] if shutil.which("rg") else "?"
    grep = subprocess.run(["grep", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"{rg}; {grep}")
    with tempfile.TemporaryDirectory(prefix="neondoctor-logbench-", dir="/tmp") as tmp:
        books = None
        if opts.extra_literals:
            books = Path(tmp) / "books"
            books.mkdir()
            extra_runbooks(books, opts.extra_literals)
        matcher = Matcher(load_runbooks([books] if books else []))
        patterns = Path(tmp) / "PATTERNS"
        patterns.write_text("\n".join(matcher.literals) + "\n", encoding="utf-8")
        print(f"PATTERNS: {len(matcher.literals)} literals of the runbooks (the matcher's own), "
              f"{sum(not lit.isascii() for lit in matcher.literals)} of them non-ASCII")
        rss: dict[int, dict[str, float]] = {}
        verdicts: list[str] = []
        for mb in sizes:
            log = Path(tmp) / f"app-{mb}.log"
            try:
                make_log(log, mb)
                size = log.stat().st_size
                injected = expected_incidents(log, matcher)
                res = measure(commands(log, patterns, books), opts.runs)
            finally:
                log.unlink(missing_ok=True)  # never leave a 1 GB file behind
            rg_secs, rg_cpu = res["rg -c -i -F -f"][0], res["rg -c -i -F -f"][3]
            print(f"\n{size / 1e6:.0f} MB, {sum(injected.values())} error lines injected:")
            print(f"  {'tool':<24} {'seconds':>8} {'MB/s':>8} {'peak RSS':>10} {'vs rg':>7} {'CPU s':>7} {'vs rg':>7}")
            for name, (secs, peak, _, cpu) in res.items():
                print(f"  {name:<24} {secs:8.2f} {size / 1e6 / secs:8.1f} {peak:7.1f} MB {rg_secs / secs:6.2f}× "
                      f"{cpu:7.2f} {rg_cpu / cpu if cpu else float('nan'):6.2f}×")
            rss[mb] = {}
            for backend, name in [*((b, f"neondoctor ({b})") for b in BACKENDS), ("hyperscan", ONE)]:
                doc = json.loads(res[name][2])
                found = {i["runbook"]: i["count"] for i in doc["incidents"]}
                same = found == injected and doc["backend"] == backend
                print(f"  {name}: {sum(found.values())} incidents, "
                      f"{'exactly those injected' if same else f'NOT those injected: {found} vs {injected}'}")
                verdicts.append(f"{mb} MB incidents ({name}): {'MET' if same else 'MISSED'}")
                rss[mb][name] = res[name][1]
            if mb in GOALS:
                ratio = rg_secs / res["neondoctor (hyperscan)"][0]
                cpu_ratio = rg_cpu / res["neondoctor (hyperscan)"][3]
                verdicts.append(f"{mb} MB neondoctor/rg throughput = {ratio:.2f}× wall, {cpu_ratio:.2f}× CPU time "
                                f"(goal ≥ {GOALS[mb]}×): {'MET' if ratio >= GOALS[mb] else 'MISSED'}")
        if len(sizes) > 1:
            for backend in rss[sizes[0]]:
                small, big = rss[sizes[0]][backend], rss[sizes[-1]][backend]
                flat = big <= small * (1 + RSS_FLAT)
                verdicts.append(f"peak RSS of {backend}: {small:.1f} MB at {sizes[0]} MB -> {big:.1f} MB at {sizes[-1]} MB "
                                f"(goal within {RSS_FLAT:.0%}): {'MET' if flat else 'MISSED'}")
    print("\n" + "\n".join(verdicts))


if __name__ == "__main__":
    main()
