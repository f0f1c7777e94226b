"""One colour decision for reports and logs: --color/--no-color, then NO_COLOR (set and not empty),
then whether the stream is a terminal. Checked on a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator

import pytest

from neondoctor.log import use_color
from neondoctor.render.colour import set_choice, wants_colour

ERROR = 'FATAL:  password authentication failed for user "app"'
ANSI = "\x1b["


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NO_COLOR")}
    return {**env, **extra}


def _on_tty(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run neondoctor with stdout on a pseudo-terminal; return its exit code and what the terminal got."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "neondoctor", *args], stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=subprocess.PIPE, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=60) is not None
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture
def tty() -> Iterator[object]:
    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as stream:
        yield stream
    os.close(master)


@pytest.fixture(autouse=True)
def _no_choice() -> Iterator[None]:
    set_choice(None)
    yield
    set_choice(None)


def test_triage_is_coloured_on_a_terminal_only_when_no_color_is_unset_or_empty() -> None:
    for env, coloured in ((_env(), True), (_env(NO_COLOR=""), True), (_env(NO_COLOR="1"), False)):
        code, out = _on_tty("triage", "--no-probes", ERROR, env=env)
        assert code == 0, out
        assert "auth-failure" in out
        assert (ANSI in out) is coloured, (env.get("NO_COLOR"), out)


def test_color_options_win_over_the_terminal_and_no_color(cli) -> None:  # type: ignore[no-untyped-def]
    code, out = _on_tty("--no-color", "triage", "--no-probes", ERROR, env=_env())
    assert code == 0 and "auth-failure" in out and ANSI not in out
    piped = cli("triage", "--no-probes", "--color", ERROR, env={"NO_COLOR": "1"})
    assert piped.returncode == 0 and ANSI in piped.stdout
    plain = cli("triage", "--no-probes", ERROR, env={"NO_COLOR": ""})
    assert plain.returncode == 0 and ANSI not in plain.stdout  # a pipe is not a terminal


def test_json_is_never_coloured(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("triage", "--no-probes", "--json", "--color", ERROR)
    assert result.returncode == 0 and ANSI not in result.stdout
    assert json.loads(result.stdout)["runbook"]["id"] == "auth-failure"


def test_logs_take_the_same_decision(tty, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NO_COLOR", "")
    assert use_color(tty) is True and wants_colour(tty) is True  # empty NO_COLOR: as if unset (no-color.org)
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(tty) is False
    set_choice(True)
    assert use_color(tty) is True
    monkeypatch.delenv("NO_COLOR")
    set_choice(False)
    assert use_color(tty) is False and wants_colour(tty, True) is True
    set_choice(None)
    assert use_color(tty) is True
    with open(os.devnull, "w") as null:
        assert use_color(null) is False  # not a terminal
