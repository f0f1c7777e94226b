"""A password given in the URL's query string (`?password=`, `sslpassword=`) is masked like the userinfo one.

Every command that prints its target runs against a real lab role whose password holds a space and
`, ; & } " ' \\`, given only as `?password=` (percent-encoded): the command really logs in, and no
form of the password (raw, encoded, JSON-escaped, or a piece of it) appears in stdout, stderr,
JSON or the JUnit file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from neondoctor.lab.cluster import LabCluster, free_port
from neondoctor.redaction import secret_forms

ROLE = "qsleak"
DATABASE = "qsleak_db"
PASSWORD = "Qs9 w0rd" + "'\"q&x,;}\\" + "-ZZt"
SSL_PASSWORD = "Kp2 ssl" + "&key;pass"
# Pieces a partial mask would leave behind.
PIECES = ("w0rd", "q&x", "-ZZt", "Kp2", "key;pass")


@pytest.fixture(scope="module")
def role(lab_primary: LabCluster) -> LabCluster:
    lab_primary.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
    lab_primary.execute(f"DROP ROLE IF EXISTS {ROLE}")
    lab_primary.create_role(ROLE, "initial-Pw-123", grants=("pg_monitor",))
    conn = lab_primary.connect()
    with conn.cursor() as cur:
        cur.execute(f"ALTER ROLE {ROLE} PASSWORD %s", (PASSWORD,))
    conn.close()
    lab_primary.execute(f"CREATE DATABASE {DATABASE} OWNER {ROLE}")
    return lab_primary


def _url(lab: LabCluster, port: int | None = None) -> str:
    # sslpassword is ignored without a client key: there only to be masked too.
    return (f"postgresql+psycopg2://{ROLE}@127.0.0.1:{port or lab.port}/{DATABASE}?connect_timeout=3"
            f"&password={quote(PASSWORD, safe='')}&sslpassword={quote(SSL_PASSWORD, safe='')}")


def _assert_clean(text: str, where: str) -> None:
    for secret in (PASSWORD, SSL_PASSWORD):
        for form in secret_forms(secret):
            assert form not in text, (where, form, text[-2000:])
    for piece in PIECES:
        assert piece not in text, (where, piece, text[-2000:])
    assert "Traceback" not in text, text[-2000:]


RUNS: list[tuple[str, tuple[str, ...], bool, int | None, str]] = [
    # (name, arguments, success path?, exit code, what shows the target)
    ("url-text", ("url",), True, None, "password=****"),
    ("url-json", ("url", "--json"), True, None, "password=****"),
    ("sanity", ("sanity", "--timeout", "3"), True, 0, "password=****"),
    ("sanity-json-junit", ("sanity", "--json", "--junit", "report.xml", "--timeout", "3"), True, 0, "password=****"),
    ("sanity-failing", ("sanity", "--junit", "report.xml", "--timeout", "2"), False, 1, "password=****"),
    ("pool-stats-json", ("pool-stats", "--json"), True, 0, "password=****"),
    ("latency-json", ("latency", "--json", "--rounds", "1", "--timeout", "2"), True, 0, "password=****"),
    ("triage-evidence", ("triage", "--timeout", "2", "Connection refused"), False, 0, "password=****"),
    ("triage-json", ("triage", "--json", "--timeout", "2", "Connection refused"), False, 0, "password=****"),
]


@pytest.mark.parametrize("log_format", ["console", "json"])
@pytest.mark.parametrize("name,args,success,code,shown", RUNS, ids=[r[0] for r in RUNS])
def test_query_string_password_never_printed(cli: Any, role: LabCluster, tmp_path: Path, log_format: str,
                                             name: str, args: tuple[str, ...], success: bool, code: int | None,
                                             shown: str) -> None:
    url = _url(role) if success else _url(role, port=free_port())
    result = cli(*args, "--log-format", log_format, "-vv", env={"DATABASE_URL": url}, cwd=tmp_path, timeout=120)
    output = result.stdout + result.stderr
    _assert_clean(output, name)
    if code is not None:
        assert result.returncode == code, (result.returncode, output[-2000:])
    assert shown in output, output[-2000:]
    if "--json" in args:
        _assert_clean(json.dumps(json.loads(result.stdout), ensure_ascii=False), f"{name} decoded JSON")
    for written in tmp_path.iterdir():
        _assert_clean(written.read_text(errors="replace"), f"{name} {written.name}")


def test_query_password_given_as_argument_to_url(cli: Any, tmp_path: Path) -> None:
    url = (f"postgresql+psycopg2://app@db.example.com/app?sslmode=require&password={quote(PASSWORD, safe='')}"
           f"&sslpassword={quote(SSL_PASSWORD, safe='')}")
    for args in (("url", url), ("url", "--json", url)):
        result = cli(*args, cwd=tmp_path)
        _assert_clean(result.stdout + result.stderr, "url argument")
        assert "sslpassword=****" in result.stdout
