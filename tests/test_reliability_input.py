"""Bad input never gets a traceback: each gets an answer and a documented exit code, quickly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli

REFUSED = 'psycopg2.OperationalError: connection to server at "db" (10.0.0.5), port 5432 failed: Connection refused'


def _triage_stdin(data: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "neondoctor", "triage", "--no-probes", *args],
        input=data, capture_output=True, timeout=120, env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    )


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("empty", b"", 2),
        ("whitespace", b"  \n\t \r\n", 2),
        ("unrelated", b"The quick brown fox jumps over the lazy dog.\n" * 50, 3),
        ("nul-bytes", b"FATAL:\x00 password authentication\x00 failed for user \"app\"", 0),
        ("invalid-utf8", b"\xff\xfe FATAL: password authentication failed for user \"app\" \xc3\x28", 0),
        ("ansi-colours", b"\x1b[31m" + REFUSED.encode() + b"\x1b[0m", 0),
        ("crlf", b"Traceback (most recent call last):\r\n  File \"app.py\", line 1\r\n" + REFUSED.encode() + b"\r\n", 0),
        ("not-connection", b'psycopg2.errors.UndefinedTable: relation "users" does not exist', 3),
    ],
)
def test_bad_paste_gets_an_answer(name: str, data: bytes, code: int) -> None:
    result = _triage_stdin(data)
    assert result.returncode == code, (name, result.stdout, result.stderr)
    assert b"Traceback (most recent call last)" not in result.stderr
    if code == 2:
        assert result.stderr.startswith(b"neondoctor: error:")


def test_fifty_megabyte_paste_is_answered(tmp_path: Path) -> None:
    # A huge paste with the real message near the end: matched, bounded, no crash.
    filler = b"INFO worker heartbeat ok; queue depth 3; nothing to see here\n" * (50 * 1024 * 1024 // 62)
    path = tmp_path / "paste.txt"
    path.write_bytes(filler + REFUSED.encode() + b"\n")
    result = subprocess.run(
        [sys.executable, "-m", "neondoctor", "triage", "--no-probes", "--json", "--file", str(path)],
        capture_output=True, timeout=120, env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-500:]
    assert b'"connect-failure"' in result.stdout


def test_broken_user_runbook_dir_is_never_silently_ignored(tmp_path: Path) -> None:
    bad = tmp_path / "mine"
    bad.mkdir()
    (bad / "broken.yaml").write_text("id: [unclosed\n")
    result = run_cli("triage", "--no-probes", "--runbooks-dir", str(bad), REFUSED)
    assert result.returncode == 2
    assert "broken.yaml" in result.stderr
    assert "Traceback" not in result.stderr


_STEP = "steps:\n  - {id: s1, cause: c, probe: tcp, fix: f}\n"


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        ("id: x\ntitle: t\norder: 5\nmatch:\n  - {name: m, regex: 'a'}\nsteps: 3\n", "steps"),
        ("id: x\ntitle: t\nmatch:\n  - {name: m, regex: 'a'}\n" + _STEP, "order"),
        ("id: x\ntitle: t\norder: 5\nmatch:\n  - {name: m, regex: '(a+)+$'}\n" + _STEP, "match"),
        ("id: x\ntitle: t\norder: 5\nmatch:\n  - {name: m, regex: '(unclosed'}\n" + _STEP, "match"),
        ("id: x\ntitle: t\norder: 5\nmatch:\n  - {name: m, regex: 'a'}\n"
         "steps:\n  - {id: s, cause: c, probe: no-such-probe, fix: f}\n", "no-such-probe"),
        ("id: x\ntitle: t\norder: 5\nmatch:\n  - {name: m, regex: 'a', colour: red}\n" + _STEP, "colour"),
        ("id: x\ntitle: t\norder: five\nmatch:\n  - {name: m, regex: 'a'}\n" + _STEP, "order"),
        ("id: x\n  title: [\n", "x.yaml"),
    ],
)
def test_runbook_errors_name_file_and_key(tmp_path: Path, content: str, expect: str) -> None:
    d = tmp_path / "rb"
    d.mkdir()
    (d / "x.yaml").write_text(content)
    result = run_cli("runbooks", "validate", str(d))
    assert result.returncode == 2, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert "x.yaml" in out and expect in out, out
    assert "Traceback" not in out


@pytest.mark.parametrize(
    "url",
    [
        "",
        "localhost:5432/db",
        "mysql://u:p@h/db",
        "postgresql://u@h:99999/db",
        "postgresql://u@h:port/db",
        "postgresql://u@[::1/db",
        "host=db user=u dbname=d",
    ],
)
def test_malformed_database_url_is_exit_2(url: str, cli: Any) -> None:
    # (triage is the exception by design: there a malformed URL is the confirmed cause, exit 0)
    for command in (["url"], ["sanity"], ["pool-stats"], ["latency"]):
        result = cli(*command, env={"DATABASE_URL": url})
        assert result.returncode == 2, (command, url, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stderr.strip().startswith("neondoctor: error:") or "DATABASE_URL" in result.stdout
