"""`neondoctor secrets` against `git grep` over the same staged files, in one run.

A throwaway repository (under /tmp, deleted after) stages ordinary source files, one large log
and one file that is a single very long line (a notebook), with a few credentials planted. The
reference is `git grep -c -E` with one URL-userinfo pattern over the same index (`--cached`).
Goal: peak RSS of the neondoctor process flat in the size of the files and of the longest line
(it streams blobs; `git cat-file`, like `git grep`, holds one whole blob, so the process tree
grows with the largest file); throughput is reported against git grep, which counts one pattern.

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
    # Written in pieces: a child's peak RSS starts from its parent's at fork, so the parent stays small.
    with open(root / "notebook.ipynb", "w") as fh:
        fh.write('{"image/png": "')
        for _ in range(mb * 1024 * 1024 // (11 * 4096)):
            fh.write("iVBORw0KGgo" * 4096)
        fh.write(f'", "text": "{PLANTED}"}}\n')
    for i in range(200):
        (root / f"mod{i}.py").write_text("import os\nURL = os.environ['DATABASE_URL']\n" * 50)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    return sum(p.stat().st_size for p in root.iterdir() if p.is_file())


# neondoctor's own peak RSS (RUSAGE_SELF: without its git child), printed last on stderr.
SELF_RSS = ("import resource, sys\nfrom neondoctor.cli import main\nsys.argv = ['neondoctor', 'secrets']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.__stderr__)")


def run(cmd: list[str], cwd: Path) -> tuple[float, float, float | None]:
    """Wall time, peak RSS of the process tree, and neondoctor's own peak RSS (MB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env_with())
    assert proc.stderr
    err = proc.stderr.read()
    _, _, usage = os.wait4(proc.pid, 0)
    own = float(err.split()[-1]) / 1024 if cmd[1] == "-c" and err.split() else None
    return time.perf_counter() - start, usage.ru_maxrss / 1024, own


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
                    "neondoctor secrets": [NEONDOCTOR[0], "-c", SELF_RSS]}
            times: dict[str, list[float]] = {name: [] for name in cmds}
            peaks: dict[str, float] = {}
            own = 0.0
            for _ in range(args.runs):
                for name, cmd in cmds.items():
                    elapsed, peak, self_peak = run(cmd, root)
                    times[name].append(elapsed)
                    peaks[name] = max(peaks.get(name, 0.0), peak)
                    own = max(own, self_peak or 0.0)
            print(f"\n{size / 1e6:.0f} MB staged (longest line {mb} MB):")
            for name in cmds:
                t = statistics.median(times[name])
                print(f"  {name:26} {t:6.2f} s  {size / 1e6 / t:7.1f} MB/s  peak RSS (with git) {peaks[name]:6.1f} MB")
            print(f"  neondoctor process alone: peak RSS {own:.1f} MB")
            rss[mb] = own
            ratio = statistics.median(times["git grep -c -E --cached"]) / statistics.median(times["neondoctor secrets"])
            print(f"  throughput neondoctor / git grep: {ratio:.2f}x")
    small, big = rss[args.small_mb], rss[args.mb]
    print(f"\npeak RSS of neondoctor: {small:.1f} MB at {args.small_mb} MB, {big:.1f} MB at {args.mb} MB "
          f"({'flat' if big < small * 1.25 else 'GROWS'})")


if __name__ == "__main__":
    main()
