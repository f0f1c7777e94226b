"""Step 5: a brand-new Python process reads the marker row back from the database.

The child is neondoctor/sanity/child.py, run as `python -P -c <its text>`: it imports SQLAlchemy's
core and the driver only, so the step costs what a plain script's second process costs. The URL,
the token and the query travel in the environment (argv is visible to every user through `ps`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

from neondoctor.redaction import redact
from neondoctor.sanity.markers import read_sql
from neondoctor.sanity.report import StepFailed, StepResult
from neondoctor.sanity.target import LOCK_TIMEOUT_MS, STATEMENT_TIMEOUT_MS, Target, connect_args

CHILD_TIMEOUT = 60.0  # seconds for the step-5 process, interpreter start-up included


@cache
def child_source() -> str:
    return (Path(__file__).parent / "child.py").read_text(encoding="utf-8")


def restart(target: Target, mode: str, token: str, result: StepResult, child_timeout: float,
            timeout: int) -> None:
    env = dict(os.environ)
    env.update({
        "NEONDOCTOR_SANITY_URL": target.url.render_as_string(hide_password=False),
        "NEONDOCTOR_SANITY_TOKEN": token,
        "NEONDOCTOR_SANITY_QUERY": read_sql(mode, target.dialect),
        "NEONDOCTOR_SANITY_CONNECT_ARGS": json.dumps(connect_args(target, min(max(timeout, 2), 5))),
        "NEONDOCTOR_SANITY_BOUND": f"{STATEMENT_TIMEOUT_MS}ms,{LOCK_TIMEOUT_MS}ms" if target.is_postgres else "",
    })
    try:
        proc = subprocess.run([sys.executable, "-P", "-c", child_source()], env=env, capture_output=True,
                              text=True, timeout=child_timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise StepFailed(f"the new process did not answer within {child_timeout:.0f}s") from None
    try:
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = redact(" ".join(proc.stderr.strip().splitlines()[-3:]))[:500]
        raise StepFailed(f"the new process exited {proc.returncode} without an answer: {tail}") from None
    child_pid = answer.get("pid")
    if child_pid == os.getpid():
        raise StepFailed("the marker was read back by this same process, not a new one")
    if answer.get("error"):
        error = " ".join(ln.strip() for ln in str(answer["error"]).splitlines() if ln.strip())
        raise StepFailed(f"new process (pid {child_pid}): {redact(error)[:1000]}")
    if not answer.get("found"):
        raise StepFailed(f"new process (pid {child_pid}) did not find marker {token}")
    result.detail = f"new process (pid {child_pid}, this one {os.getpid()}) read back {answer['found']}"
