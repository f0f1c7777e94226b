"""`neondoctor secrets` against `git grep` over the same staged files, in one run.

A throwaway repository (under /tmp, deleted after) stages ordinary source files, one large log
and one file that is a single very long line (a notebook), with a few credentials planted. The
reference is `git grep -c -E` with one URL-userinfo pattern over the same index (`--cached`).
Goal: peak RSS flat in the size of the files and of the longest line (neondoctor streams blobs);
throughput is reported against git grep, which only counts matches of one pattern.

    uv run python benchmarks/secrets_scan.py [--mb 40] [--small-mb 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _lab import NEONDOCTOR, env_with, header

PLANTED = "postgresql://app:" + "Bq3-planted-Pw9" + "@db.example.com/app"


def make_repo(root: Path, mb: int) -> int:
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".gitignore").write_text(".env\n")
    line = "INFO worker heartbeat ok; queue depth 3; handled request in 12 ms path=/api/items\n"
    with open(root / "big.log", "w") as fh:
        for i in range(mb * 1024 * 1024 // len(line)):
            fh.write(f"url={PLANTED}\n" if i % 200_000 == 7 else line)
    (root / "notebook.ipynb").write_text('{"image/png": "' + "iVBORw0KGgo" * (mb * 1024 * 1024 // 44)
                                         + f'", "text": "{PLANTED}"}}\n')
    for i in range(200):
        (root / f"mod{i}.py").write_text("import os\nURL = os.environ['DATABASE_URL']\n" * 50)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    return sum(p.stat().st_size for p in root.iterdir() if p.is_file())


def run(cmd: list[str], cwd: Path) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env_with())
    _, _, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=40)
    parser.add_argument("--small-mb", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    header("secrets scan vs git grep")
    rss: dict[int, float] = {}
    for mb in (args.small_mb, args.mb):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            size = make_repo(root, mb)
            cmds = {"git grep -c -E --cached": ["git", "grep", "-c", "-E", "--cached", "://[^:/@ ]*:[^@ ]+@"],
                    "neondoctor secrets": [*NEONDOCTOR, "secrets"]}
            times: dict[str, list[float]] = {name: [] for name in cmds}
            peaks: dict[str, float] = {}
            for _ in range(args.runs):
                for name, cmd in cmds.items():
                    elapsed, peak = run(cmd, root)
                    times[name].append(elapsed)
                    peaks[name] = max(peaks.get(name, 0.0), peak)
            print(f"\n{size / 1e6:.0f} MB staged (longest line {mb} MB):")
            for name in cmds:
                t = statistics.median(times[name])
                print(f"  {name:26} {t:6.2f} s  {size / 1e6 / t:7.1f} MB/s  peak RSS {peaks[name]:6.1f} MB")
            rss[mb] = peaks["neondoctor secrets"]
            ratio = statistics.median(times["git grep -c -E --cached"]) / statistics.median(times["neondoctor secrets"])
            print(f"  throughput neondoctor / git grep: {ratio:.2f}x")
    small, big = rss[args.small_mb], rss[args.mb]
    print(f"\npeak RSS of neondoctor: {small:.1f} MB at {args.small_mb} MB, {big:.1f} MB at {args.mb} MB "
          f"({'flat' if big < small * 1.25 else 'GROWS'})")


if __name__ == "__main__":
    main()
