"""Unit tests of the one redaction mechanism, including real driver error texts."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
from urllib.parse import quote, quote_plus

import psycopg2
import pytest
import structlog

from neondoctor.lab.cluster import LabCluster
from neondoctor.log import configure_logging
from neondoctor.redaction import MASK, RedactingStream, Redactor, redact, register_secret, write_text

SECRET = "Tq4" + "-red@ct:me/%"  # URL-special characters on purpose


@pytest.fixture
def r() -> Redactor:
    return Redactor()


@pytest.mark.parametrize("text", [
    "postgresql://app:{enc}@db.example.com:5432/app",
    "postgresql+psycopg2://app:{enc}@[::1]:5432/app?sslmode=require",
    "sqlalchemy.exc.OperationalError: could not connect to postgres://app:{enc}@host/db",
])
def test_url_userinfo(r: Redactor, text: str) -> None:
    # Pattern alone, without registering: a URL pasted from anywhere.
    secret = "Wz3" + "-unregistered"
    out = r.text(text.format(enc=secret))
    assert secret not in out and f"app:{MASK}@" in out


def test_key_value_dsn(r: Redactor) -> None:
    secret = "Kv9" + "-dsnsecret"
    for text in (f"host=db user=app password={secret} dbname=app",
                 f"host=db password='{secret}' dbname=app",
                 f'{{"password": "{secret}"}}'):
        assert secret not in r.text(text), text


def test_pgpassword(r: Redactor) -> None:
    secret = "Pg7" + "-envsecret"
    assert r.text(f"PGPASSWORD={secret} psql -h db") == f"PGPASSWORD={MASK} psql -h db"


def test_registered_secret_in_every_encoded_form(r: Redactor) -> None:
    r.register(SECRET)
    for form in (SECRET, quote(SECRET, safe=""), quote_plus(SECRET), quote(quote(SECRET, safe=""), safe="")):
        out = r.text(f"error near {form} here")
        assert form not in out and MASK in out, form


def test_masks_already_masked_values_idempotently(r: Redactor) -> None:
    text = "postgresql://app:****@db/app password=****"
    assert r.text(text) == text


def test_real_driver_error_text(lab: LabCluster) -> None:
    """libpq echoes a malformed DSN token back in its error: a password pasted without `password=`."""
    secret = "Dr5" + "-drivererr"
    register_secret(secret)
    with pytest.raises(psycopg2.Error) as info:
        psycopg2.connect(f"host=127.0.0.1 port={lab.port} user=app {secret} connect_timeout=3")
    assert secret in str(info.value)  # the driver really does print it
    assert secret not in redact(str(info.value))
    with pytest.raises(psycopg2.OperationalError) as auth:
        psycopg2.connect(host="127.0.0.1", port=lab.port, user="app", password=secret, dbname="neondoctor_lab",
                         connect_timeout=3)
    assert "password authentication failed" in redact(str(auth.value))


def test_structlog_processor_masks_events() -> None:
    secret = "Sl2" + "-logsecret"
    stream = io.StringIO()
    configure_logging("json", level="debug", stream=stream)
    structlog.get_logger("t").info("connecting", url=f"postgresql://app:{secret}@db/app",
                                   dsn=f"host=db password={secret}", nested={"k": [f"PGPASSWORD={secret}"]})
    out = stream.getvalue()
    assert secret not in out
    assert json.loads(out)["url"] == f"postgresql://app:{MASK}@db/app"


def test_redacting_stream_masks_secret_split_across_writes() -> None:
    register_secret(SECRET)
    inner = io.StringIO()
    stream = RedactingStream(inner)
    half = len(SECRET) // 2
    stream.write("password is " + SECRET[:half])
    stream.write(SECRET[half:] + "\n")
    stream.flush()
    assert SECRET not in inner.getvalue() and MASK in inner.getvalue()


def test_write_text_redacts_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    register_secret(SECRET)
    path = tmp_path / "report.txt"
    write_text(path, f"url=postgresql://app:{quote(SECRET, safe='')}@db/app\n")
    assert SECRET not in path.read_text() and quote(SECRET, safe="") not in path.read_text()


def test_stdlib_records_are_bridged_when_logging_loads_after_the_cli_configured_it() -> None:
    """A command that logs nothing never imports `logging`; one that later loads the engine factory
    still gets its records rendered (and redacted) the way the CLI asked."""
    secret = "Zx9" + "-bridgepw"
    code = ("import io, sys\n"
            "from neondoctor.cli import cli\n"
            "from neondoctor.log import configure_logging\n"
            "from neondoctor.triage.logscan import scan_log\n"
            "out = io.StringIO()\n"
            "configure_logging('json', level='debug', stream=out)\n"
            "scan_log(sys.argv[1])\n"
            "assert 'logging' not in sys.modules, 'logging was imported'\n"
            "import logging\n"
            "from neondoctor.app.db import logs\n"
            f"logs.emit(logging.WARNING, 'pool.exhausted', url='postgresql://app:{secret}@db/app')\n"
            "print(out.getvalue())\n")
    with tempfile.NamedTemporaryFile("w", suffix=".log") as log:
        log.write("psycopg2.OperationalError: server closed the connection unexpectedly\n")
        log.flush()
        proc = subprocess.run([sys.executable, "-c", code, log.name], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    event = json.loads(proc.stdout.strip().splitlines()[-1])
    assert event["event"] == "pool.exhausted" and event["logger"] == "neondoctor.db"
    assert secret not in proc.stdout and MASK in event["url"]
