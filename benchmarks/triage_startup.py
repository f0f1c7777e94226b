"""How fast `neondoctor triage --no-probes` answers, against the floor of importing our own dependencies.

Goal: triage --no-probes ≤ 1.3× `python -c "import click, yaml, structlog, dotenv"`, measured side by
side (interleaved runs, median). Also times `neondoctor --help` and lists the heavy modules each imports.

    uv run python benchmarks/triage_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from _lab import NEONDOCTOR, REPO, env_with, header, interleaved

ERROR = 'psycopg2.OperationalError: connection to server at "db" (10.0.0.1), port 5432 failed: ' \
        'FATAL:  password authentication failed for user "app"'
HEAVY = ("sqlalchemy", "psycopg2", "psycopg", "asyncpg", "pg8000", "hyperscan")  # hyperscan: only --log
GOAL = 1.3


def import_profile(args: list[str]) -> tuple[list[str], list[tuple[str, float]]]:
    """Heavy packages imported by `neondoctor ARGS`, and the slowest top-level imports (python -X importtime)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "neondoctor", *args], capture_output=True,
                          text=True, env=env_with(), cwd=REPO, timeout=60)
    found = set()
    top: list[tuple[str, float]] = []
    for line in proc.stderr.splitlines():
        if "|" not in line or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if name.strip().split(".")[0] in HEAVY:
            found.add(name.strip().split(".")[0])
        if name.startswith(" ") and not name.startswith("  "):  # a top-level import
            top.append((name.strip(), int(cumulative) / 1000))
    return sorted(found), sorted(top, key=lambda t: -t[1])[:6]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    opts = parser.parse_args()
    header(f"triage startup, median of {opts.runs} interleaved runs")
    cmds = {
        "floor: python -c 'import click, yaml, structlog, dotenv'":
            [sys.executable, "-c", "import click, yaml, structlog, dotenv"],
        "neondoctor triage --no-probes <error>": [*NEONDOCTOR, "triage", "--no-probes", ERROR],
        "neondoctor --help": [*NEONDOCTOR, "--help"],
    }
    times = interleaved(cmds, opts.runs, env=env_with())
    floor = next(iter(times.values()))
    for name, seconds in times.items():
        print(f"  {name:<58} {seconds * 1000:7.1f} ms  {seconds / floor:5.2f}×")
    ratio = times["neondoctor triage --no-probes <error>"] / floor
    print(f"triage --no-probes / floor = {ratio:.2f}× (goal ≤ {GOAL}×): {'MET' if ratio <= GOAL else 'MISSED'}")
    for args in (["triage", "--no-probes", ERROR], ["--help"]):
        heavy, top = import_profile(args)
        print(f"  `neondoctor {args[0]}`: heavy modules imported: {', '.join(heavy) or 'none'}; slowest imports: "
              + ", ".join(f"{name} {ms:.0f} ms" for name, ms in top))


if __name__ == "__main__":
    main()
