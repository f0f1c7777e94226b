"""Log scanning (`triage --log`): incidents by runbook, tracebacks once, gzip, stdin, redaction."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from neondoctor.errors import ConfigError
from neondoctor.triage.logscan import scan
from neondoctor.triage.logscan.anchors import anchors as _anchors
from neondoctor.triage.logscan.anchors import minimal


def prefilter_anchors(literals):  # type: ignore[no-untyped-def]
    return minimal(_anchors(literals))
from neondoctor.triage.matcher import Matcher
from neondoctor.triage.runbook import load_runbooks

SECRET = "L0gScan-Pw-7hq"  # distinctive, so its absence from output means something

AUTH = 'FATAL:  password authentication failed for user "app"'
TRACEBACK_LOG = f"""\
2026-11-24T10:00:00Z INFO app started
2026-11-24T10:00:01Z ERROR request failed
Traceback (most recent call last):
  File "/app/x.py", line 10, in handler
    conn = engine.connect()
psycopg2.OperationalError: connection to server at "db" (10.0.0.1), port 5432 failed: {AUTH}

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/app/x.py", line 12, in handler
sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection to server at "db" (10.0.0.1), port 5432 failed: {AUTH}
(Background on this error at: https://sqlalche.me/e/20/e3q8)
2026-11-24T10:00:02Z INFO retrying
2026-11-24T10:00:03Z ERROR connect failed: {AUTH}
2026-11-24T10:00:04Z ERROR connect failed: {AUTH}
2026-11-24T10:05:00Z ERROR sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00
2026-11-24T10:06:00Z INFO done
"""


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_runbooks())


def _write(tmp_path: Path, text: str, name: str = "app.log") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_incidents_grouped_by_runbook_traceback_counted_once(tmp_path: Path, matcher: Matcher) -> None:
    result = scan(_write(tmp_path, TRACEBACK_LOG), matcher)
    assert result.lines == 18
    assert result.bytes == len(TRACEBACK_LOG.encode())
    auth = result.incidents["auth-failure"]
    # one traceback (two chained exceptions) + two separate timestamped lines
    assert auth.count == 3
    assert (auth.first_line, auth.last_line) == (6, 16)
    # the traceback's lines carry no timestamp: the record's own (line 2) is used
    assert auth.first_seen == "2026-11-24T10:00:01Z"
    assert auth.last_seen == "2026-11-24T10:00:04Z"
    assert auth.sample.startswith("psycopg2.OperationalError: connection to server at")
    pool = result.incidents["pool-timeout"]
    assert (pool.count, pool.first_line, pool.last_line) == (1, 17, 17)
    assert set(result.incidents) == {"auth-failure", "pool-timeout"}


def test_every_line_of_a_traceback_counts_once_even_across_chunks(tmp_path: Path, matcher: Matcher) -> None:
    path = _write(tmp_path, TRACEBACK_LOG * 3)
    big = scan(path, matcher).to_json()
    # chunks far smaller than a line: carries and blocks cross every boundary
    for size in (7, 64, 333):
        small = scan(path, matcher, chunk_size=size).to_json()
        assert small == big, size
    counts = {i["runbook"]: i["count"] for i in big["incidents"]}
    assert counts == {"auth-failure": 9, "pool-timeout": 3}


def test_gzip_is_detected_by_magic_bytes(tmp_path: Path, matcher: Matcher) -> None:
    plain = scan(_write(tmp_path, TRACEBACK_LOG), matcher)
    packed = tmp_path / "app.log.1"  # no .gz suffix: only the magic bytes tell
    # two concatenated members, as `cat a.gz b.gz` or logrotate produce
    packed.write_bytes(gzip.compress(TRACEBACK_LOG.encode()) + gzip.compress(TRACEBACK_LOG.encode()))
    result = scan(packed, matcher, chunk_size=50)
    assert result.gzip and not plain.gzip
    assert result.lines == 2 * plain.lines
    assert result.incidents["auth-failure"].count == 6
    assert result.incidents["pool-timeout"].last_line == 18 + 17


def test_corrupt_gzip_is_a_clear_error(tmp_path: Path, matcher: Matcher) -> None:
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00" + b"not really gzip" * 10)
    with pytest.raises(ConfigError, match="corrupt"):
        scan(bad, matcher)


def test_sample_is_redacted(tmp_path: Path, matcher: Matcher) -> None:
    text = (f"2026-11-24 10:00:00 ERROR cannot connect to postgresql://app:{SECRET}@db.example.com/app: "
            "Connection refused\n")
    result = scan(_write(tmp_path, text), matcher)
    sample = result.incidents["connect-failure"].sample
    assert SECRET not in sample
    assert "app:****@db.example.com" in sample


def test_timestamps_in_syslog_and_common_log_format(tmp_path: Path, matcher: Matcher) -> None:
    text = (
        f"Nov 24 10:00:01 web1 app[123]: {AUTH}\n"
        "Nov 24 10:00:02 web1 app[123]: all good\n"
        f'10.0.0.1 - - [24/Nov/2026:10:00:09 +0000] "GET /x" 500 - {AUTH}\n'
        f"{AUTH}"  # last line without a newline, and without a timestamp of its own
    )
    result = scan(_write(tmp_path, text), matcher)
    auth = result.incidents["auth-failure"]
    assert auth.count == 3
    assert auth.first_seen == "Nov 24 10:00:01"
    assert auth.last_seen == "24/Nov/2026:10:00:09 +0000"
    assert auth.last_line == 4
    assert result.lines == 4


def test_non_connection_errors_are_not_incidents(tmp_path: Path, matcher: Matcher) -> None:
    text = (
        'ERROR: relation "users" does not exist\n'
        "ERROR: duplicate key value violates unique constraint\n"
        "ERROR: deadlock detected\n"
        "INFO: connection pool warmed up\n"
    )
    result = scan(_write(tmp_path, text), matcher)
    assert result.incidents == {}
    assert result.lines == 4


def test_a_users_runbook_is_found_too(tmp_path: Path) -> None:
    """Same runbooks as single-error triage: a user's runbook reaches the log scan with no extra list."""
    books = tmp_path / "books"
    books.mkdir()
    (books / "custom.yaml").write_text(
        "id: custom-proxy\ntitle: Our proxy said no\norder: 5\n"
        "match:\n  - name: proxy\n    contains: frobnicator refused the lease\n"
        "steps:\n  - id: check-proxy\n    cause: The proxy is down\n    manual: Look at the proxy dashboard\n",
        encoding="utf-8",
    )
    matcher = Matcher(load_runbooks([books]))
    assert b"frobnicator" in prefilter_anchors(matcher.literals)
    result = scan(_write(tmp_path, "x\n2026-11-24T00:00:00Z Frobnicator  REFUSED the lease\n"), matcher)
    assert result.incidents["custom-proxy"].first_line == 2


def test_prefilter_drops_literals_that_contain_another() -> None:
    assert prefilter_anchors(["Connection", "connection refused", "28P01"]) == (b"28p01", b"connection")


# ---------------------------------------------------------------- through the CLI


def test_cli_log_json_from_stdin_gzip(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = gzip.compress(TRACEBACK_LOG.encode())
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "neondoctor", "triage", "--log", "-", "--json"],
                          input=data, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["lines"] == 18 and doc["gzip"] is True
    assert doc["bytes"] == len(TRACEBACK_LOG.encode())
    inc = {i["runbook"]: i for i in doc["incidents"]}
    assert set(inc["auth-failure"]) == {"runbook", "count", "first_line", "last_line", "first_seen", "last_seen",
                                        "sample"}
    assert inc["auth-failure"]["count"] == 3


def test_cli_log_text_redacts_and_exit_codes(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, f"2026-11-24T10:00:00Z psql postgresql://app:{SECRET}@h/db failed: {AUTH}\n")
    result = cli("triage", "--log", str(path))
    assert result.returncode == 0, result.stderr
    assert "auth-failure" in result.stdout
    assert SECRET not in result.stdout + result.stderr

    clean = _write(tmp_path, "2026-11-24T10:00:00Z INFO nothing to see\n", "clean.log")
    result = cli("triage", "--log", str(clean))
    assert result.returncode == 3
    assert "no known incident" in result.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["--log", "missing.log"], "does not exist"), (["some error", "--log", "x.log"], "no TEXT")],
)
def test_cli_log_bad_input_exit_2(cli, args, needle) -> None:  # type: ignore[no-untyped-def]
    result = cli("triage", *args)
    assert result.returncode == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_progress_is_drawn_only_after_the_delay(tmp_path: Path, matcher: Matcher) -> None:
    import io

    path = _write(tmp_path, TRACEBACK_LOG * 50)
    quiet = io.StringIO()
    scan(path, matcher, chunk_size=256, progress_stream=quiet)  # default: only after 1 s
    assert quiet.getvalue() == ""

    from neondoctor.triage.logscan import Progress

    stream = io.StringIO()
    bar = Progress(stream, total=1000, delay=0.0)
    bar.update(500)
    assert "scanning [" in stream.getvalue() and "50%" in stream.getvalue()
    bar.finish()
    assert stream.getvalue().endswith("\r")


def test_prefilter_finds_every_anchor_whatever_the_sample(matcher: Matcher) -> None:
    """The rare-byte regexes must find each literal, however the passes were grouped."""
    from neondoctor.triage.logscan.backend_python import compile_prefilter

    anchors = prefilter_anchors(matcher.literals)
    for sample in (b"", TRACEBACK_LOG.encode(), b"zzzz qqqq 0000 " * 100):
        patterns = compile_prefilter(anchors, sample)
        assert len(patterns) < len(anchors)
        for anchor in anchors:
            text = b"2026-11-24 INFO x " + anchor + b" y\n"
            assert any(p.search(text) for p in patterns), (anchor, sample[:20])
        assert not any(p.search(b"2026-11-24T10:00:00Z INFO web: GET /health 200 3.1ms\n") for p in patterns)
