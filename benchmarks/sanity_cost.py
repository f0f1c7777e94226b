"""`neondoctor sanity` against `benchmarks/sanity_plain.py` (the same five steps by hand), one lab server.

Goal: neondoctor sanity ≤ 1.3× the plain script's wall time (median of interleaved runs, each a fresh
process, both against the same local server). Also prints each step's time as neondoctor reports it.

    uv run python benchmarks/sanity_cost.py [--runs 9]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from _lab import NEONDOCTOR, REPO, env_with, header, interleaved, lab_cluster

GOAL = 1.3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    opts = parser.parse_args()
    header(f"sanity cost, median of {opts.runs} interleaved runs")
    with lab_cluster() as cluster:
        env = env_with(DATABASE_URL=cluster.app_url())
        cmds = {
            "plain SQLAlchemy (benchmarks/sanity_plain.py)": [sys.executable, str(REPO / "benchmarks" / "sanity_plain.py")],
            "neondoctor sanity": [*NEONDOCTOR, "sanity"],
        }
        times = interleaved(cmds, opts.runs, env=env)
        out = subprocess.run([*NEONDOCTOR, "sanity", "--json"], env=env, capture_output=True, text=True, cwd=REPO,
                             timeout=120)
    plain = times["plain SQLAlchemy (benchmarks/sanity_plain.py)"]
    print(f"server: PostgreSQL {cluster.state.version} on 127.0.0.1")
    for name, seconds in times.items():
        print(f"  {name:<48} {seconds * 1000:7.0f} ms  {seconds / plain:5.2f}×")
    ratio = times["neondoctor sanity"] / plain
    print(f"neondoctor sanity / plain = {ratio:.2f}× (goal ≤ {GOAL}×): {'MET' if ratio <= GOAL else 'MISSED'}")
    try:
        doc = json.loads(out.stdout)
        steps = doc.get("steps", [])
        print("  steps (neondoctor's own timing): " + ", ".join(
            f"{s.get('name') or s.get('id')} {s.get('duration_ms', 0):.0f} ms" for s in steps))
    except (ValueError, AttributeError, TypeError):
        print(f"  (could not read sanity --json: exit {out.returncode})")


if __name__ == "__main__":
    main()
