"""Property: for generated passwords, no command prints, logs or writes the password in any form.

Each example gives a real lab role the generated password, so success paths really log in; failure
paths point the same URL at a closed port. The password sits in the URL's userinfo or, as libpq
allows, only in its query string (`?password=`); it may be an ordinary word (`app`, `postgres`),
which must be masked as a value without mangling other words (leak_check.py says what a leak is). Commands run in-process through click's runner (the
same group, stream wrapper and structlog configuration as the console script) to keep it fast.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leak_check import leaks

from neondoctor.cli import cli
from neondoctor.lab.cluster import LabCluster, free_port
from neondoctor.redaction import REDACTOR

ROLE = "propleak"
DATABASE = "propleak_db"

# Passwords with URL-special characters, percent-encoded look-alikes, unicode, and text that
# looks like other URL parts. PostgreSQL forbids NUL; very short ones would mask ordinary words.
passwords = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=8, max_size=24),
    st.from_regex(r"[A-Za-z0-9@:/?#%&=+;$!~*' \[\]]{8,24}", fullmatch=True),
    st.sampled_from(["%40%3A%2Fencoded9", "host:5432/db@x", "пароль-ZZ-секрет", "endpoint=ep-q;pw77",
                     "p@ss w0rd' \"q&x", "a,b;c}d\\e f"]),
).filter(lambda p: p.strip() == p and len(set(p)) > 3) | st.sampled_from(["app", "postgres", "admin", "secret"])


def _url(lab: LabCluster, password: str, style: str, port: int | None = None) -> str:
    if style == "userinfo":
        return lab.url(user=ROLE, password=password, database=DATABASE, port=port)
    return (f"postgresql+psycopg2://{ROLE}@127.0.0.1:{port or lab.port}/{DATABASE}"
            f"?password={quote(password, safe='')}")


@pytest.fixture(autouse=True)
def _forget_generated_passwords() -> Iterator[None]:
    """The in-process commands register each generated password (`app` too): not for later tests."""
    saved = REDACTOR.secrets
    yield
    REDACTOR.restore(saved)


@pytest.fixture(scope="module")
def role(lab_primary: LabCluster) -> LabCluster:
    lab_primary.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
    lab_primary.execute(f"DROP ROLE IF EXISTS {ROLE}")
    lab_primary.create_role(ROLE, "initial-Pw-123", grants=("pg_monitor",))
    # A database of its own: tables other tests' roles created elsewhere are not its to write.
    lab_primary.execute(f"CREATE DATABASE {DATABASE} OWNER {ROLE}")
    return lab_primary


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("leakrepo")
    subprocess.run(["git", "init", "-q", str(path)], check=True, timeout=30)
    return path


def _run(args: list[str], url: str, cwd: Path, log_format: str) -> tuple[int, str, str]:
    """Exit code, everything printed, and everything the command wrote to its working directory."""
    workdir = Path(tempfile.mkdtemp(dir=cwd))
    old = os.getcwd()
    os.chdir(workdir)
    try:
        result = CliRunner().invoke(cli, ["--log-format", log_format, "-vv", *args],
                                    env={"DATABASE_URL": url, "NO_COLOR": "1"}, catch_exceptions=False)
    finally:
        os.chdir(old)
    files = "".join(p.read_text(errors="replace") for p in workdir.rglob("*") if p.is_file())
    return result.exit_code, result.stdout + result.stderr, files


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(password=passwords, log_format=st.sampled_from(["console", "json"]),
       style=st.sampled_from(["userinfo", "query"]))
def test_generated_password_never_leaks(password: str, log_format: str, style: str, role: LabCluster, repo: Path,
                                        tmp_path: Path) -> None:
    conn = role.connect()
    with conn.cursor() as cur:
        cur.execute(f"ALTER ROLE {ROLE} PASSWORD %s", (password,))
    conn.close()
    good = _url(role, password, style)
    bad = _url(role, password, style, port=free_port())

    log = tmp_path / "app.log.gz"
    with gzip.open(log, "wt") as fh:
        fh.write(f"2026-11-24T10:00:00 ERROR could not connect to {good}: Connection refused\n")
    (repo / ".env.example").write_text(f"DATABASE_URL={good}\n")
    subprocess.run(["git", "-C", str(repo), "add", ".env.example"], check=True, timeout=30)

    # (arguments, URL, exit code that proves the path really ran: logged in, or really failed)
    runs: list[tuple[list[str], str, int | None]] = [
        (["url"], good, None), (["url", "--json"], good, None), (["url", good], bad, None),
        (["triage", "--no-probes", f"connect to {good} failed: Connection refused"], good, 0),
        (["triage", "--json", "--timeout", "2", 'FATAL:  password authentication failed for user "x"'], good, None),
        (["triage", "--timeout", "2", "Connection refused"], bad, 0),
        (["triage", "--log", str(log), "--json"], good, 0),
        (["pool-stats", "--json"], good, 0), (["pool-stats"], bad, 4),
        (["latency", "--rounds", "1", "--timeout", "2", "--json"], good, 0), (["latency", "--rounds", "1"], bad, 4),
        (["sanity", "--json", "--junit", "report.xml", "--timeout", "3"], good, 0),
        (["sanity", "--junit", "report.xml", "--timeout", "2"], bad, 1),
        (["secrets", "--repo", str(repo)], good, 1),
        (["lab", "status"], good, None),
    ]
    for args, url, expected in runs:
        code, printed, written = _run(args, url, tmp_path, log_format)
        if expected is not None:
            assert code == expected, (args, code, printed[-300:])
        assert not leaks(password, printed), (args, style, "printed", printed[-2000:])
        assert not leaks(password, written), (args, style, "written")
