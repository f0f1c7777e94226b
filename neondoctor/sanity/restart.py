"""Step 5: a brand-new Python process reads the marker row back.

Run as `python -m neondoctor.sanity.restart` this module is that child: it reads the URL and the token
from the environment (never argv, which `ps` shows to every user) and prints one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from neondoctor.redaction import redact
from neondoctor.sanity.markers import MarkerStore
from neondoctor.sanity.report import StepFailed, StepResult, error_text
from neondoctor.sanity.target import DEFAULT_TIMEOUT, Target, make_engine, resolve_target

CHILD_TIMEOUT = 60.0  # seconds for the step-5 process, interpreter start-up included
_ENV_URL = "NEONDOCTOR_SANITY_URL"
_ENV_TOKEN = "NEONDOCTOR_SANITY_TOKEN"
_ENV_MODE = "NEONDOCTOR_SANITY_MODE"
_ENV_TIMEOUT = "NEONDOCTOR_SANITY_TIMEOUT"


def restart(target: Target, mode: str, token: str, result: StepResult, child_timeout: float,
             timeout: int) -> None:
    env = dict(os.environ)
    # The URL travels in the environment: argv is visible to every user through `ps`.
    env[_ENV_URL] = target.url.render_as_string(hide_password=False)
    env[_ENV_TOKEN] = token
    env[_ENV_MODE] = mode
    env[_ENV_TIMEOUT] = str(timeout)
    try:
        proc = subprocess.run([sys.executable, "-m", "neondoctor.sanity.restart"], env=env, capture_output=True,
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
        raise StepFailed(f"new process (pid {child_pid}): {answer['error']}")
    if not answer.get("found"):
        raise StepFailed(f"new process (pid {child_pid}) did not find marker {token}")
    result.detail = f"new process (pid {child_pid}, this one {os.getpid()}) read back {answer['found']}"



def _child_main() -> int:
    """Read the marker row in a fresh interpreter; print {"pid", "found"|"error"} as one JSON line."""
    answer: dict[str, Any] = {"pid": os.getpid()}
    code = 0
    try:
        raw, token, mode = os.environ[_ENV_URL], os.environ[_ENV_TOKEN], os.environ[_ENV_MODE]
    except KeyError as exc:
        print(json.dumps({**answer, "error": f"missing environment variable {exc}"}))
        return 2
    try:
        target = resolve_target(raw)
        timeout = int(os.environ.get(_ENV_TIMEOUT) or DEFAULT_TIMEOUT)
        engine = make_engine(target, timeout=min(max(timeout, 2), DEFAULT_TIMEOUT))
        try:
            with engine.connect() as conn:
                answer["found"] = MarkerStore(mode).read(conn, token)
        finally:
            engine.dispose()
        code = 0 if answer["found"] else 1
    except Exception as exc:
        answer["error"] = error_text(exc)
        code = 2
    print(json.dumps(answer))
    return code


if __name__ == "__main__":
    sys.exit(_child_main())
