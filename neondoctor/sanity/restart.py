"""Step 5: a brand-new Python process reads the marker row back from the database.

The child is neondoctor/sanity/child.py, run as `python -P -c <its text>`: it imports the DB-API
driver only (the statements come compiled by SQLAlchemy here), so the step costs an interpreter
start-up and one connection. Connect arguments, token and statements travel in the environment
(argv is visible to every user through `ps`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from neondoctor.redaction import redact
from neondoctor.sanity.markers import read_sql
from neondoctor.sanity.report import StepFailed, StepResult
from neondoctor.sanity.target import LOCK_TIMEOUT_MS, STATEMENT_TIMEOUT_MS, Target, connect_args

if TYPE_CHECKING:
    from sqlalchemy import Engine

CHILD_TIMEOUT = 60.0  # seconds for the step-5 process, interpreter start-up included


@cache
def child_source() -> str:
    return (Path(__file__).parent / "child.py").read_text(encoding="utf-8")


def child_plan(engine: Engine, target: Target, mode: str, token: str, timeout: int) -> dict[str, Any]:
    """What the child runs: the driver, its connect arguments, the statements compiled for it."""
    from sqlalchemy import text

    args = connect_args(target, min(max(timeout, 2), 5))
    raw = [(read_sql(mode, target.dialect), {"token": token})]
    if target.is_postgres:
        raw.insert(0, ("SELECT set_config('statement_timeout', :s, true), set_config('lock_timeout', :l, true)",
                       {"s": f"{STATEMENT_TIMEOUT_MS}ms", "l": f"{LOCK_TIMEOUT_MS}ms"}))
    dialect = engine.dialect
    dbapi = dialect.loaded_dbapi
    if isinstance(dbapi, ModuleType):  # psycopg2, psycopg, sqlite3: the driver alone will do
        cargs, cparams = dialect.create_connect_args(target.url)
        statements = []
        for sql, params in raw:
            compiled = text(sql).bindparams(**params).compile(dialect=dialect)
            values = compiled.construct_params()
            bound = [values[n] for n in compiled.positiontup or ()] if compiled.positional else values
            statements.append((str(compiled), bound))
        plan = {"dbapi": dbapi.__name__, "args": list(cargs), "kwargs": {**cparams, **args}, "statements": statements}
        try:
            json.dumps(plan)
            return plan
        except (TypeError, ValueError):
            pass  # an argument JSON cannot carry: let SQLAlchemy connect in the child
    return {"url": target.url.render_as_string(hide_password=False), "kwargs": args, "statements": raw,
            "is_async": target.is_async}


def restart(engine: Engine, target: Target, mode: str, token: str, result: StepResult, child_timeout: float,
            timeout: int) -> None:
    env = dict(os.environ)
    # Connect arguments (the password too) travel in the environment: argv is visible to every user.
    env["NEONDOCTOR_SANITY_PLAN"] = json.dumps(child_plan(engine, target, mode, token, timeout))
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
