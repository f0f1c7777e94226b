"""The error's own target: extracted from every stack, compared with DATABASE_URL, and the walk that
follows (the mismatch step first, network probes on the error's host:port, credentials only on the
same target), end to end against the real lab."""

from __future__ import annotations

import json
from typing import Any

import pytest

from neondoctor.lab.cluster import free_port
from neondoctor.triage.context import raised_in
from neondoctor.triage.matcher import normalise
from neondoctor.triage.runbook import load_runbooks
from neondoctor.triage.target import differences, extract_target
from neondoctor.triage.walk import DIFFERS, TriageOptions, triage

T = "connection to server at"
CASES = [  # (paste, expected fields)
    (f'psycopg2.OperationalError: {T} "localhost" (127.0.0.1), port 5432 failed: Connection refused',
     {"host": "localhost", "address": "127.0.0.1", "port": 5432, "driver": "psycopg2", "raised_in": "connect"}),
    (f'{T} "ep-x-pooler.us-east-2.aws.neon.tech" (3.1.2.3), port 5432 failed: FATAL:  password authentication '
     'failed for user "neondb_owner"', {"host": "ep-x-pooler.us-east-2.aws.neon.tech", "user": "neondb_owner"}),
    (f'psycopg.OperationalError: connection failed: {T} "127.0.0.1", port 6432 failed: FATAL: x (SQLSTATE 28P01)',
     {"host": "127.0.0.1", "port": 6432, "driver": "psycopg", "sqlstate": "28P01"}),
    ("OSError: Multiple exceptions: [Errno 111] Connect call failed ('127.0.0.1', 5433), [Errno 99] Cannot assign",
     {"address": "127.0.0.1", "port": 5433, "host": None}),
    ('ConnectionError: PostgreSQL server at "db.internal:5432" rejected SSL upgrade', {"host": "db.internal"}),
    ("Error: connect ECONNREFUSED 10.1.2.3:6543\n    at TCPConnectWrap.afterConnect", {"address": "10.1.2.3", "port": 6543}),
    ("Error: connect ENETUNREACH 2a05:d014:1c06:5f00::1:5432 - Local (:::0)", {"address": "2a05:d014:1c06:5f00::1"}),
    ("org.postgresql.util.PSQLException: Connection to localhost:5433 refused.", {"host": "localhost", "port": 5433,
                                                                                  "driver": "pgjdbc"}),
    ("dial tcp [::1]:5432: connect: connection refused", {"address": "::1", "port": 5432}),
    ("Error: P1001: Can't reach database server at `db.example.com`:`5432`", {"host": "db.example.com", "port": 5432}),
    ("failed to connect to `host=localhost user=postgres database=app`: dial error", {"host": "localhost",
                                                                                     "user": "postgres", "database": "app"}),
    ("** (DBConnection.ConnectionError) tcp connect (db:5432): non-existing domain - :nxdomain",
     {"host": "db", "port": 5432, "driver": "postgrex"}),
    ('psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: FATAL:  Peer '
     'authentication failed for user "postgres"', {"host": "/var/run/postgresql", "port": 5432, "user": "postgres"}),
    ('could not connect to server: Connection refused\n\tIs the server running on host "db" (172.18.0.2) and '
     'accepting\n\tTCP/IP connections on port 5432?', {"host": "db", "address": "172.18.0.2", "port": 5432}),
    ('FATAL:  no pg_hba.conf entry for host "10.0.0.5", user "app", database "shop", SSL off',
     {"host": None, "user": "app", "database": "shop"}),  # that host is the client's address, not the server
    ('engine = create_engine("postgresql+asyncpg://bob:s3cr3t@db.internal:6543/shop?sslmode=require")',  # neondoctor: allow-secret
     {"host": "db.internal", "port": 6543, "user": "bob", "database": "shop", "sslmode": "require"}),
    ("FATAL:  Passwort-Authentifizierung für Benutzer »neondb_owner« fehlgeschlagen", {"user": "neondb_owner"}),
    ('ВАЖНО:  пользователь "app" не прошёл проверку подлинности (по паролю)', {"user": "app"}),
    ("psql: Fehler: Verbindung zum Server auf »db.example.com« (10.1.2.3), Port 5433 fehlgeschlagen: FATAL:  "
     "Passwort-Authentifizierung für Benutzer »app« fehlgeschlagen",  # libpq and server in German
     {"host": "db.example.com", "address": "10.1.2.3", "port": 5433, "user": "app", "raised_in": "connect"}),
    ("psql: erreur : la connexion au serveur sur « db » (172.18.0.2), port 5432 a échoué : FATAL:  la base de "
     "données « shop » n'existe pas", {"host": "db", "port": 5432, "database": "shop", "raised_in": "connect"}),
    ("Npgsql.NpgsqlException (0x80004005): Failed to connect to 10.0.0.7:5432", {"address": "10.0.0.7",
                                                                                "driver": "npgsql"}),
]


@pytest.mark.parametrize(("paste", "expected"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_extract_target(paste: str, expected: dict[str, Any]) -> None:
    got = extract_target(normalise(paste)).to_json()
    assert {k: got[k] for k in expected} == expected
    assert "s3cr3t" not in json.dumps(got)


@pytest.mark.parametrize(("paste", "context"), [
    ('  File "/x/psycopg2/__init__.py", line 122, in connect\n    conn = _connect(dsn)\nOperationalError: boom', "connect"),
    ('  File "/x/sqlalchemy/engine/default.py", line 922, in do_execute\n    cursor.execute(statement)\nX: boom',
     "in-use"),
    ('  File "/x/default.py", line 9, in do_execute\n    cursor.execute(s)\nX: boom\n\nThe above exception was the '
     'direct cause of the following exception:\n\n  File "/x/pool/base.py", line 3, in connect\n    return '
     'connect(a)\nY: boom', "in-use"),  # the root cause (first traceback) decides, not its wrappers
    ("org.postgresql.util.PSQLException: boom\n\tat org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl("
     "ConnectionFactoryImpl.java:319)", "connect"),
    ("psycopg2.OperationalError: boom\n\n[SQL: SELECT 1]", "in-use"),
    ('connection to server at "h" (1.2.3.4), port 5432 failed: boom', "connect"),
    ("psycopg2.OperationalError: boom", "unknown"),
])
def test_raised_in(paste: str, context: str) -> None:
    assert raised_in(normalise(paste)) == context


def test_differences_only_compares_what_both_name() -> None:
    t = extract_target('connection to server at "localhost" (127.0.0.1), port 5432 failed: for user "app"')
    assert differences(t, "127.0.0.1", None, "app", "shop") == ()  # localhost and 127.0.0.1 are one host
    assert differences(t, "ep-x.neon.tech", 5432, "neondb_owner", None) == ("host", "user")
    addr_only = extract_target("Error: connect ECONNREFUSED 10.1.2.3:5432")
    assert differences(addr_only, "db.example.com", None, None, None) == ()  # unresolved: no claim
    assert differences(addr_only, "db.example.com", None, None, None, ("10.9.9.9",)) == ("host",)


def _refused_error(port: int) -> str:
    import psycopg2

    try:
        psycopg2.connect(host="localhost", port=port, user="app", dbname="app", connect_timeout=3)
    except psycopg2.OperationalError as exc:
        return f"psycopg2.OperationalError: {exc}"
    pytest.fail("nothing should listen on that port")


def test_refused_port_confirmed_on_the_errors_port_while_database_url_is_live(
        lab_primary: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = free_port()
    error = _refused_error(dead)
    monkeypatch.setenv("DATABASE_URL", lab_primary.app_url())  # a live server that accepts TCP
    result = triage(error, load_runbooks(), TriageOptions(timeout=3))
    first = result.steps[0]
    assert (first.step.id, first.status) == ("target-mismatch", DIFFERS)
    assert f":{dead}" in first.evidence and f":{lab_primary.port}" in first.evidence
    assert (result.verdict.status, result.verdict.step.id) == ("confirmed", "port-closed")
    assert f":{dead} (the error's server) refused" in result.steps[-1].evidence


def test_error_for_another_user_gets_the_mismatch_and_no_credential_check(
        lab_primary: Any, monkeypatch: pytest.MonkeyPatch, cli: Any) -> None:
    import psycopg2

    try:
        psycopg2.connect(host="127.0.0.1", port=lab_primary.port, user="intruder", password="nope-123",
                         dbname="app", connect_timeout=5)
        pytest.fail("the login should fail")
    except psycopg2.OperationalError as exc:
        error = f"psycopg2.OperationalError: {exc}"
    assert 'for user "intruder"' in error
    url = lab_primary.app_url()
    result = triage(error, load_runbooks(), TriageOptions(timeout=3, database_url=url))
    assert result.target is not None and result.target.user == "intruder"
    assert result.target_differs == ("user",)
    assert result.steps[0].step.id == "target-mismatch"
    assert (result.verdict.status, result.verdict.step.id) == ("confirmed", "target-mismatch")
    assert result.steps[-1].step.probe == "auth" and result.steps[-1].status == "not_run"
    # The CLI: the same story, the target in --json, DATABASE_URL's password nowhere.
    proc = cli("triage", "--json", "--timeout", "3", input=error, env={"DATABASE_URL": url})
    data = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    assert data["target"]["error"]["user"] == "intruder" and data["target"]["differs"] == ["user"]
    assert data["steps"][0]["id"] == "target-mismatch" and data["steps"][0]["status"] == "differs"
    assert data["verdict"]["step"] == "target-mismatch"
    password = lab_primary.state.app_password
    assert password not in proc.stdout + proc.stderr
    # Ruled out by hand (the app does use another role on purpose): the credentials are checked.
    again = triage(error, load_runbooks(), TriageOptions(timeout=3, database_url=url,
                                                         ruled_out=("target-mismatch",)))
    assert all(o.step.id != "target-mismatch" for o in again.steps)
    assert any(o.step.probe == "auth" and o.status == "ruled_out" for o in again.steps)


def test_same_target_has_no_mismatch_step(lab_primary: Any) -> None:
    error = (f'psycopg2.OperationalError: connection to server at "127.0.0.1", port {lab_primary.port} failed: '
             'FATAL:  password authentication failed for user "app"')
    result = triage(error, load_runbooks(), TriageOptions(timeout=3, database_url=lab_primary.app_url()))
    assert result.target_differs == ()
    assert all(o.step.id != "target-mismatch" for o in result.steps)


def _raised_in_by_every_pattern(text: str) -> str:
    """raised_in without its cheap word checks: each pattern always runs."""
    from neondoctor.triage import context as c
    from neondoctor.triage.translations import connect_prefixes

    if c._LIBPQ_CONNECTING.search(text) or any(p.search(text) for p in connect_prefixes()):
        return c.CONNECT
    first = c._CHAINED.split(text, maxsplit=1)[0]
    kinds = [c._kind(m["func"], m["code"]) for m in c._PY_FRAME.finditer(first)]
    if not kinds:
        kinds = [c._kind(m["func"]) for m in c._AT_FRAME.finditer(first)][::-1]
    known = [k for k in kinds if k]
    return known[-1] if known else (c.IN_USE if c._SQL_SECTION.search(text) else c.UNKNOWN)


def test_raised_in_skips_only_patterns_that_cannot_match() -> None:
    """Every golden paste, and folds beyond lower() (the Kelvin sign, the long s) that a
    case-insensitive pattern still matches: the same answer as running every pattern."""
    from test_matcher import GOLDEN

    texts = [normalise(case[2]["input"]) for case in GOLDEN]
    texts += ['connection to \u017fERVER at "h" (1.2.3.4), port 5432 failed: x', 'could not connect to server: x',
              'CONNECTION TO SERVER on socket "/tmp/.s.PGSQL.5432" failed: x',
              '\u212aonnection to server at "h", port 1 failed', "  at Npgsql.NpgsqlConnection.Open(x)"]
    assert len(texts) > 250
    for text in texts:
        assert raised_in(text) == _raised_in_by_every_pattern(text), text
