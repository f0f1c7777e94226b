"""Log scanning (`triage --log`): incidents by runbook, tracebacks once, gzip, stdin, redaction.

Every scanning case runs once per backend (Hyperscan and the pure-Python fallback): the same cases,
the same expected results.
"""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from neondoctor.errors import ConfigError
from neondoctor.triage.logscan import scan
from neondoctor.triage.logscan.anchors import anchors, minimal
from neondoctor.triage.logscan.backends import BACKENDS, ENV
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

# Real messages as drivers and servers print them, for the injected-incidents case.
ERRORS = [
    'psycopg2.OperationalError: connection to server at "db.internal" (10.0.3.7), port 5432 failed: ' + AUTH,
    'sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection to server at "10.0.3.7", port 5432 '
    "failed: Connection refused",
    "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00",
    "psycopg2.OperationalError: FATAL:  remaining connection slots are reserved for non-replication superuser "
    "connections",
    "psycopg2.OperationalError: server closed the connection unexpectedly",
    'could not translate host name "db.internal" to address: Name or service not known',
    "asyncpg.exceptions.TooManyConnectionsError: sorry, too many clients already",
    "sqlalchemy.exc.NoSuchModuleError: Can't load plugin: sqlalchemy.dialects:postgres",
]
# Ordinary lines, some holding words and numbers a pre-filter trips on (connection, 28000, 0800).
ORDINARY = [
    "INFO web: GET /api/orders 200 12.5ms user_id=28000 request_id=0800beef",
    "INFO worker: connection pool warmed up, 5 connections available",
    "DEBUG sqlalchemy.engine: SELECT orders.id FROM orders WHERE orders.user_id = %(user_id)s",
    "WARNING app: slow handler took 5300ms, retrying in 3s (authentication service)",
    "INFO web: POST /login 201 88.1ms",
]


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_runbooks())


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each scan backend in turn; the CLI (a child process) gets it through the environment."""
    monkeypatch.setenv(ENV, request.param)
    return str(request.param)


def _write(tmp_path: Path, text: str, name: str = "app.log") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _counts(result: object) -> dict[str, int]:
    return {k: v.count for k, v in result.incidents.items()}  # type: ignore[attr-defined]


# ---------------------------------------------------------------- what is found


def test_incidents_found_exactly_equal_to_injected(tmp_path: Path, matcher: Matcher, backend: str) -> None:
    """A synthetic log: each injected error line is one incident of the runbook that single-error
    triage gives it; no ordinary line is one, whatever it shares with the literals."""
    rng = random.Random(11)
    expected: dict[str, int] = {}
    lines = []
    for second in range(20000):
        stamp = f"2026-11-24T{second // 3600 % 24:02d}:{second // 60 % 60:02d}:{second % 60:02d}.{second % 1000:03d}Z"
        if rng.random() < 0.01:
            message = rng.choice(ERRORS)
            found = matcher.match(message)
            assert found is not None, message
            expected[found.runbook.id] = expected.get(found.runbook.id, 0) + 1
            lines.append(f"{stamp} ERROR app: {message}")
        else:
            lines.append(f"{stamp} {rng.choice(ORDINARY)}")
    path = _write(tmp_path, "\n".join(lines) + "\n")
    result = scan(path, matcher, backend=backend)
    assert result.backend == backend
    assert result.lines == 20000
    assert _counts(result) == expected
    assert sum(expected.values()) > 150


def test_backends_give_identical_results(tmp_path: Path, matcher: Matcher) -> None:
    path = _write(tmp_path, (TRACEBACK_LOG + "\n".join(ORDINARY) + "\n") * 40)
    results = [scan(path, matcher, backend=name).to_json() for name in BACKENDS]
    for doc in results:
        doc.pop("backend")
    assert all(doc == results[0] for doc in results)
    assert results[0]["incidents"]


def test_incidents_grouped_by_runbook_traceback_counted_once(tmp_path: Path, matcher: Matcher, backend: str) -> None:
    result = scan(_write(tmp_path, TRACEBACK_LOG), matcher, backend=backend)
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


def test_every_line_of_a_traceback_counts_once_even_across_chunks(tmp_path: Path, matcher: Matcher,
                                                                  backend: str) -> None:
    path = _write(tmp_path, TRACEBACK_LOG * 3)
    big = scan(path, matcher, backend=backend).to_json()
    # reads far smaller than a line: carries and blocks cross every boundary
    for size in (7, 64, 333):
        small = scan(path, matcher, chunk_size=size, backend=backend).to_json()
        assert small == big, size
    assert _counts_json(big) == {"auth-failure": 9, "pool-timeout": 3}


def _counts_json(doc: dict) -> dict[str, int]:  # type: ignore[type-arg]
    return {i["runbook"]: i["count"] for i in doc["incidents"]}


def test_timestamps_in_syslog_and_common_log_format(tmp_path: Path, matcher: Matcher, backend: str) -> None:
    text = (
        f"Nov 24 10:00:01 web1 app[123]: {AUTH}\n"
        "Nov 24 10:00:02 web1 app[123]: all good\n"
        f'10.0.0.1 - - [24/Nov/2026:10:00:09 +0000] "GET /x" 500 - {AUTH}\n'
        f"{AUTH}"  # last line without a newline, and without a timestamp of its own
    )
    result = scan(_write(tmp_path, text), matcher, backend=backend)
    auth = result.incidents["auth-failure"]
    assert auth.count == 3
    assert auth.first_seen == "Nov 24 10:00:01"
    assert auth.last_seen == "24/Nov/2026:10:00:09 +0000"
    assert auth.last_line == 4
    assert result.lines == 4


def test_non_connection_errors_are_not_incidents(tmp_path: Path, matcher: Matcher, backend: str) -> None:
    text = (
        'ERROR: relation "users" does not exist\n'
        "ERROR: duplicate key value violates unique constraint\n"
        "ERROR: deadlock detected\n"
        "INFO: connection pool warmed up\n"
    )
    result = scan(_write(tmp_path, text), matcher, backend=backend)
    assert result.incidents == {}
    assert result.lines == 4


def test_sample_is_redacted(tmp_path: Path, matcher: Matcher, backend: str) -> None:
    text = (f"2026-11-24 10:00:00 ERROR cannot connect to postgresql://app:{SECRET}@db.example.com/app: "
            "Connection refused\n")
    result = scan(_write(tmp_path, text), matcher, backend=backend)
    sample = result.incidents["connect-failure"].sample
    assert SECRET not in sample
    assert "app:****@db.example.com" in sample


def test_a_users_runbook_is_found_too(tmp_path: Path, backend: str) -> None:
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
    assert b"frobnicator" in anchors(matcher.literals)
    result = scan(_write(tmp_path, "x\n2026-11-24T00:00:00Z Frobnicator  REFUSED the lease\n"), matcher, backend=backend)
    assert result.incidents["custom-proxy"].first_line == 2


# ---------------------------------------------------------------- non-ASCII literals

TRANSLATED = {
    # PostgreSQL's own translations of "password authentication failed for user", as servers print them
    "de": ("Passwort-Authentifizierung für Benutzer", 'FATAL:  Passwort-Authentifizierung für Benutzer »app« fehlgeschlagen'),
    "fr": ("mot de passe échouée",
           "FATAL:  authentification par mot de passe échouée pour l'utilisateur  « app »"),
    "ru": ("не прошёл проверку подлинности",
           "ВАЖНО:  пользователь \"app\" не прошёл проверку подлинности (по паролю)"),
    "ja": ("パスワード認証に失敗しました", "致命的エラー:  ユーザ\"app\"のパスワード認証に失敗しました"),
}


@pytest.fixture(scope="module")
def translated_matcher(tmp_path_factory: pytest.TempPathFactory) -> Matcher:
    books = tmp_path_factory.mktemp("books")
    conditions = "".join(f"  - name: auth-{lang}\n    contains: {phrase}\n" for lang, (phrase, _) in TRANSLATED.items())
    (books / "translated.yaml").write_text(
        "id: auth-translated\ntitle: Password rejected (translated server messages)\norder: 1\n"
        f"match:\n{conditions}"
        "steps:\n  - id: check-password\n    cause: Wrong password\n    manual: Check the password\n",
        encoding="utf-8",
    )
    return Matcher(load_runbooks([books]))


def test_non_ascii_literals_in_any_case_and_json_escaped(tmp_path: Path, translated_matcher: Matcher,
                                                         backend: str) -> None:
    lines = []
    for _, message in TRANSLATED.values():
        lines.append(f"2026-11-24T10:00:00Z {message}")
        lines.append(f"2026-11-24T10:00:01Z {message.upper()}")  # ÉCHOUÉE, ПРОВЕРКУ ПОДЛИННОСТИ
        # a JSON logger with ensure_ascii writes \u00e9, \u043f...
        lines.append(json.dumps({"ts": "2026-11-24T10:00:02Z", "msg": message}))
        lines.append("2026-11-24T10:00:03Z INFO ordinary line between incidents")
    path = _write(tmp_path, "\n".join(lines) + "\n")
    result = scan(path, translated_matcher, backend=backend)
    inc = result.incidents["auth-translated"]
    assert inc.count == 3 * len(TRANSLATED)
    assert (inc.first_line, inc.last_line) == (1, 4 * len(TRANSLATED) - 1)


def test_anchors_of_non_ascii_literals() -> None:
    found = set(anchors(["échouée", "подлинности", "パスワード認証に失敗しました", "Connection"]))
    assert b"chou" in found  # the case-free run of échouée: É and é both contain it
    assert "подлинности".encode() in found and "ПОДЛИННОСТИ".encode() in found
    assert "Подлинности".encode() in found
    assert "パスワード認証に失敗しました".encode() in found
    assert json.dumps("パスワード認証に失敗しました")[1:-1].lower().encode() in found
    assert b"connection" in found  # ASCII: lower case, every backend folds ASCII case


def test_minimal_drops_anchors_that_contain_another() -> None:
    assert minimal([b"connection", b"connection refused", b"28p01"]) == (b"28p01", b"connection")


# ---------------------------------------------------------------- long lines, memory


def test_line_numbers_right_after_a_line_over_4_mib(tmp_path: Path, matcher: Matcher, backend: str) -> None:
    huge = "x" * (5 << 20)  # longer than MAX_LINE: scanned in pieces, still one line
    text = f"2026-11-24T10:00:00Z INFO start\n{huge}\n{huge} {AUTH} {huge}\n2026-11-24T10:00:01Z ERROR {AUTH}\n"
    result = scan(_write(tmp_path, text), matcher, backend=backend)
    assert result.lines == 4
    auth = result.incidents["auth-failure"]
    assert (auth.count, auth.first_line, auth.last_line) == (2, 3, 4)
    assert len(auth.sample) <= 300


def test_pieces_of_one_long_line_count_once(tmp_path: Path, matcher: Matcher, backend: str) -> None:
    # max_line small: line 2 is cut into pieces, the first and the last of which hold the error
    text = f"head\n{AUTH} {'y' * 1000} {AUTH}\n{AUTH}\ntail"
    for size in (300, 400):
        result = scan(_write(tmp_path, text), matcher, max_line=size, chunk_size=size, backend=backend)
        auth = result.incidents["auth-failure"]
        assert (result.lines, auth.count, auth.first_line, auth.last_line) == (4, 2, 2, 3), size


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_memory_is_bounded_by_the_buffers_not_the_file(tmp_path: Path, backend: str) -> None:
    """A 48 MB file without a single newline: peak RSS stays far below the file's size."""
    path = tmp_path / "one-line.log"
    with path.open("wb") as fh:
        for _ in range(48):
            fh.write(b"z" * (1 << 20))
    # VmHWM is this process's own peak; ru_maxrss would include the parent's (it survives exec on Linux)
    code = ("import re, sys; from neondoctor.triage.logscan import scan_log; r = scan_log(sys.argv[1]); "
            "status = open('/proc/self/status').read(); "
            "print(r.lines, int(re.search(r'VmHWM:\\s+(\\d+)', status).group(1)) // 1024)")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines, peak_mb = map(int, proc.stdout.split())
    assert lines == 1
    assert peak_mb < 100, peak_mb  # 3 buffers of 8 MiB plus the interpreter; the file is 48 MiB


# ---------------------------------------------------------------- gzip


def test_gzip_is_detected_by_magic_bytes(tmp_path: Path, matcher: Matcher, backend: str) -> None:
    plain = scan(_write(tmp_path, TRACEBACK_LOG), matcher, backend=backend)
    packed = tmp_path / "app.log.1"  # no .gz suffix: only the magic bytes tell
    # two concatenated members, as `cat a.gz b.gz` or logrotate produce, then zero padding
    packed.write_bytes(gzip.compress(TRACEBACK_LOG.encode()) + gzip.compress(TRACEBACK_LOG.encode()) + b"\0" * 512)
    for size in (None, 50):
        result = scan(packed, matcher, chunk_size=size, backend=backend)
        assert result.gzip and not plain.gzip
        assert result.lines == 2 * plain.lines
        assert result.bytes == 2 * len(TRACEBACK_LOG.encode())
        assert result.incidents["auth-failure"].count == 6
        assert result.incidents["pool-timeout"].last_line == 18 + 17


def test_corrupt_gzip_is_a_clear_error(tmp_path: Path, matcher: Matcher, backend: str) -> None:
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00" + b"not really gzip" * 10)
    with pytest.raises(ConfigError, match="corrupt"):
        scan(bad, matcher, backend=backend)


def _gzip_t_fails(path: Path) -> bool:
    return subprocess.run(["gzip", "-t", str(path)], capture_output=True).returncode != 0


@pytest.mark.parametrize("cut", [1, 8, 100, "half"])
def test_truncated_gzip_is_an_error_not_a_complete_scan(tmp_path: Path, matcher: Matcher, backend: str,
                                                        cut: int | str) -> None:
    whole = gzip.compress((TRACEBACK_LOG * 200).encode())
    keep = len(whole) // 2 if cut == "half" else len(whole) - int(cut)
    path = tmp_path / "app.log.gz"
    path.write_bytes(whole[:keep])
    assert _gzip_t_fails(path)  # what gzip itself says of the same file
    for size in (None, 333):
        with pytest.raises(ConfigError, match="truncated gzip file") as info:
            scan(path, matcher, chunk_size=size, backend=backend)
        assert "not scanned as complete" in str(info.value)


def test_data_after_the_gzip_stream_is_an_error(tmp_path: Path, matcher: Matcher, backend: str) -> None:
    path = tmp_path / "app.log.gz"
    path.write_bytes(gzip.compress(TRACEBACK_LOG.encode()) + b"2026-11-24 plain text appended\n")
    assert _gzip_t_fails(path)
    with pytest.raises(ConfigError, match="not gzip follows"):
        scan(path, matcher, backend=backend)


# ---------------------------------------------------------------- backends


def test_backend_choice_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, matcher: Matcher) -> None:
    path = _write(tmp_path, TRACEBACK_LOG)
    monkeypatch.setenv(ENV, "python")
    assert scan(path, matcher).backend == "python"
    monkeypatch.setenv(ENV, "auto")
    assert scan(path, matcher).backend == "hyperscan"  # installed in the dev group: the fastest wins
    monkeypatch.setenv(ENV, "grep")
    with pytest.raises(ConfigError, match="not a scan backend"):
        scan(path, matcher)


def test_without_hyperscan_auto_falls_back_and_a_forced_choice_says_how_to_install(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, matcher: Matcher) -> None:
    path = _write(tmp_path, TRACEBACK_LOG)
    for name in [m for m in sys.modules if m.startswith("neondoctor.triage.logscan.backend_hyperscan")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "hyperscan", None)  # as if not installed: import fails
    monkeypatch.setenv(ENV, "auto")
    result = scan(path, matcher)
    assert result.backend == "python"
    assert _counts(result) == {"auth-failure": 3, "pool-timeout": 1}
    monkeypatch.setenv(ENV, "hyperscan")
    with pytest.raises(ConfigError, match=r"neondoctor\[fast\]"):
        scan(path, matcher)


def test_hyperscan_database_is_cached_on_disk_and_a_bad_cache_is_rebuilt(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, matcher: Matcher) -> None:
    from neondoctor.triage.logscan.backend_hyperscan import HyperscanFinder

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    found = anchors(matcher.literals)
    line = b"2026-11-24 ERROR " + AUTH.encode() + b"\n"
    assert HyperscanFinder(found).lines(line, 0, len(line)) == [(0, len(line) - 1)]
    cached = list((tmp_path / "cache" / "neondoctor" / "scan").glob("*.hsdb"))
    assert len(cached) == 1
    assert HyperscanFinder(found).lines(line, 0, len(line)) == [(0, len(line) - 1)]  # from the cache
    cached[0].write_bytes(b"garbage")
    assert HyperscanFinder(found).lines(line, 0, len(line)) == [(0, len(line) - 1)]  # rebuilt
    assert cached[0].read_bytes() != b"garbage"
    # another literal set is another key: a new runbook never reuses a stale database
    HyperscanFinder((*found, b"frobnicator"))
    assert len(list(cached[0].parent.glob("*.hsdb"))) == 2


def test_python_prefilter_finds_every_anchor_whatever_the_sample(matcher: Matcher) -> None:
    """The rare-byte regexes must find each anchor, however the passes were grouped."""
    from neondoctor.triage.logscan.backend_python import compile_prefilter

    found = minimal(anchors(matcher.literals))
    for sample in (b"", TRACEBACK_LOG.encode(), b"zzzz qqqq 0000 " * 100):
        patterns = compile_prefilter(found, sample)
        assert len(patterns) < len(found)
        for anchor in found:
            text = b"2026-11-24 INFO x " + anchor + b" y\n"
            assert any(p.search(text) for p in patterns), (anchor, sample[:20])
        assert not any(p.search(b"2026-11-24T10:00:00Z INFO web: GET /health 200 3.1ms\n") for p in patterns)


# ---------------------------------------------------------------- through the CLI


def test_cli_log_json_from_stdin_gzip(backend: str) -> None:
    data = gzip.compress(TRACEBACK_LOG.encode())
    proc = subprocess.run([sys.executable, "-m", "neondoctor", "triage", "--log", "-", "--json"],
                          input=data, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["lines"] == 18 and doc["gzip"] is True and doc["backend"] == backend
    assert doc["bytes"] == len(TRACEBACK_LOG.encode())
    inc = {i["runbook"]: i for i in doc["incidents"]}
    assert set(inc["auth-failure"]) == {"runbook", "count", "first_line", "last_line", "first_seen", "last_seen",
                                        "sample"}
    assert inc["auth-failure"]["count"] == 3


def test_cli_truncated_gzip_exit_2_without_traceback(cli, tmp_path: Path, backend: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "app.log.gz"
    path.write_bytes(gzip.compress((TRACEBACK_LOG * 50).encode())[:-8])
    result = cli("triage", "--log", str(path))
    assert result.returncode == 2
    assert "truncated gzip file" in result.stderr and "not scanned as complete" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # no partial report that could pass for a complete one
    # stdin too: the stream ends early the same way
    proc = subprocess.run([sys.executable, "-m", "neondoctor", "triage", "--log", "-", "--json"],
                          input=path.read_bytes(), capture_output=True, timeout=60)
    assert proc.returncode == 2 and b"truncated gzip file" in proc.stderr
    # under --json the error is JSON too (the CLI's one error contract), never a partial report
    assert json.loads(proc.stdout) == {"error": json.loads(proc.stdout)["error"], "exit_code": 2}


def test_cli_unknown_backend_exit_2(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(ENV, "fastest")
    result = cli("triage", "--log", str(_write(tmp_path, TRACEBACK_LOG)))
    assert result.returncode == 2
    assert "not a scan backend" in result.stderr and "Traceback" not in result.stderr


def test_cli_log_text_redacts_and_exit_codes(cli, tmp_path: Path, backend: str) -> None:  # type: ignore[no-untyped-def]
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

    from neondoctor.triage.logscan import Progress

    path = _write(tmp_path, TRACEBACK_LOG * 50)
    quiet = io.StringIO()
    scan(path, matcher, chunk_size=256, progress_stream=quiet)  # default: only after 1 s
    assert quiet.getvalue() == ""

    stream = io.StringIO()
    bar = Progress(stream, total=1000, delay=0.0)
    bar.update(500)
    assert "scanning [" in stream.getvalue() and "50%" in stream.getvalue()
    bar.finish()
    assert stream.getvalue().endswith("\r")
