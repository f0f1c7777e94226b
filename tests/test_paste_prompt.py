"""`neondoctor triage` with no TEXT on a terminal asks for the paste: tested on a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from neondoctor.cli.paste import PROMPT, read_until_blank_line

CHAINED = '''Traceback (most recent call last):
  File "/app/.venv/lib/python3.11/site-packages/sqlalchemy/engine/default.py", line 922, in do_execute
    cursor.execute(statement, parameters)
psycopg2.OperationalError: server closed the connection unexpectedly
\tThis probably means the server terminated abnormally
\tbefore or while processing the request.

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/app/worker.py", line 41, in poll
    rows = conn.execute(text("SELECT id FROM jobs WHERE note = 'it''s \\"quoted\\"'")).all()
sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) server closed the connection unexpectedly

[SQL: SELECT id FROM jobs]
engine = create_engine("postgresql+psycopg2://app@db.internal:6543/jobs")
'''


class Terminal:
    """`neondoctor triage ARGS` with stdin and stderr on a pty (a terminal), stdout on a pipe."""

    def __init__(self, *args: str) -> None:
        self.master, slave = os.openpty()
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"NO_COLOR": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "neondoctor", "triage", *args], stdin=slave,
                                     stdout=subprocess.PIPE, stderr=slave, env=env, text=True)
        os.close(slave)
        self.screen = b""

    def read_until(self, needle: bytes, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while needle not in self.screen:
            ready, _, _ = select.select([self.master], [], [], max(0.0, end - time.monotonic()))
            if not ready:
                pytest.fail(f"{needle!r} never appeared; the terminal shows {self.screen[-500:]!r}")
            try:
                self.screen += os.read(self.master, 65536)
            except OSError:
                pytest.fail(f"the terminal closed before {needle!r}: {self.screen[-500:]!r}")

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        out, _ = self.proc.communicate(timeout=timeout)  # never closes the terminal: the paste must end itself
        return self.proc.returncode, out

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


@pytest.fixture
def terminal() -> Iterator[Any]:
    made: list[Terminal] = []

    def start(*args: str) -> Terminal:
        made.append(Terminal(*args))
        return made[-1]

    yield start
    for t in made:
        t.close()


def test_multi_line_traceback_with_blank_lines_and_quotes_in_one_paste(terminal: Any) -> None:
    t = terminal("--no-probes", "--json")
    t.read_until(PROMPT.encode())
    t.type(CHAINED + "\n")  # the paste, then Enter on an empty line
    code, out = t.finish()
    data = json.loads(out)
    assert code == 0
    assert data["runbook"]["id"] == "stale-connection"
    assert data["matched"]["context"] == "in-use"  # read from the first traceback, before the blank lines
    # the last line came after two blank lines inside the paste: it was read too
    assert data["target"]["error"]["host"] == "db.internal" and data["target"]["error"]["port"] == 6543


def test_typed_by_hand_ends_at_the_empty_line(terminal: Any) -> None:
    t = terminal("--no-probes")
    t.read_until(b"empty line (or Ctrl-D)")
    t.type("\n")  # an empty line before any content is not the end
    t.type("FATAL:  sorry, too many clients already\n")
    time.sleep(0.5)
    t.type("\n")
    code, out = t.finish()
    assert code == 0
    assert "Runbook: slot-exhaustion" in out


def test_ctrl_d_ends_the_paste(terminal: Any) -> None:
    t = terminal("--no-probes")
    t.read_until(PROMPT.encode())
    t.type('FATAL:  password authentication failed for user "app"\n\x04')
    code, out = t.finish()
    assert code == 0 and "Runbook: auth-failure" in out


def test_ctrl_d_on_an_empty_paste_is_a_clear_error(terminal: Any) -> None:
    t = terminal("--no-probes")
    t.read_until(PROMPT.encode())
    t.type("\x04")
    code, _ = t.finish()
    t.read_until(b"empty")
    assert code == 2
    assert b"Traceback" not in t.screen


def test_reader_waits_across_a_slow_chained_traceback() -> None:
    """Over a slow link the rest may arrive after the empty line: a chaining line is not an end."""
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"X: first\n\nThe above exception was the direct cause of the following exception:\n\n")
    pid = os.fork()
    if pid == 0:  # the late rest of the paste
        time.sleep(0.6)
        os.write(write_fd, b"Y: second\n\n")
        os._exit(0)
    try:
        text = read_until_blank_line(read_fd, settle=0.05)
    finally:
        os.waitpid(pid, 0)
        os.close(read_fd)
        os.close(write_fd)
    assert text.endswith("Y: second")
