"""Credential shapes the patterns mask without registration, short passwords that are ordinary words,
and a flush in the middle of a line (user code printing a password in pieces)."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from neondoctor.lab.cluster import LabCluster
from neondoctor.redaction import MASK, RedactingStream, Redactor, is_secret_key

PW = "Zx8" + "-shape" + "Q1"  # unregistered: the patterns alone must find it


# The start of a URL whose password follows; the shapes add an unencoded password and the host.
APP_URL = "postgresql://app:"
PSYCOPG2_URL = "postgresql+psycopg2://app:"


@pytest.mark.parametrize("template", [
    "POSTGRES_PASSWORD={pw}",
    "export DB_PASSWORD={pw} && run",
    "environment: POSTGRES_PASSWORD: {pw}",
    "MYSQL_ROOT_PASSWD={pw}",
    "APP_DB_PWD={pw}",
    "host=db sslpassword={pw} sslkey=/k",
    "postgresql://app@db/app?sslmode=require&sslpassword={pw}&x=1",
    "postgresql://app@db/app?password={pw}",
    'config = {{:adapter=>"postgresql", :password=>"{pw}"}}',
    "config = {{ :password => '{pw}' }}",
    'log line {{\\"user\\": \\"app\\", \\"password\\": \\"{pw}\\"}}',
    '{{"password": "{pw}"}}',
    "Driver={{PostgreSQL Unicode}};Server=db;Uid=app;Pwd={pw};",
    "Driver={{PostgreSQL}};Server=db;Uid=app;Pwd={{{pw};x}};",
    "--password={pw}",
    "could not connect to " + APP_URL + "{pw} with space@db.example.com:5432/app",
    "could not connect to " + APP_URL + '{pw}"quote@db.example.com/app',
    APP_URL + "{pw}@at@db.example.com:5432/app",
    APP_URL + "{pw}?q@db.example.com/app",
    APP_URL + "{pw}#h@db.example.com/app",
    PSYCOPG2_URL + "p@{pw}#?@[::1]:5432/app",
])
def test_shape_is_masked(template: str) -> None:
    text = template.format(pw=PW)
    out = Redactor().text(text)
    assert PW not in out, out
    assert MASK in out
    for piece in ("space", "quote", "at@", "?q", "#h"):  # the rest of an unencoded password
        if piece in text:
            assert piece not in out, out


@pytest.mark.parametrize("text", [
    'FATAL:  password authentication failed for user "app"',
    "PWD=/home/app",
    "password_hash=abc123 stored",
    "postgresql://db.example.com:5432/app failed; mail ops@example.com",
    "postgresql://app@db.example.com/app?sslmode=require",
    "postgresql://app:****@db/app password=****",
])
def test_ordinary_text_is_untouched(text: str) -> None:
    assert Redactor().text(text) == text


@pytest.mark.parametrize("key,secret", [("password", True), ("sslpassword", True), ("DB_PASSWORD", True),
                                         ("Pwd", True), ("db_pwd", True), ("sslmode", False), ("passfile", False)])
def test_is_secret_key(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


@pytest.mark.parametrize("word", ["app", "postgres", "neondb"])
def test_a_common_word_password_masks_values_not_keys_schemes_or_words(word: str) -> None:
    r = Redactor()
    r.register(word)
    doc = json.dumps({"by_application": {word: 2}, "user": word, "url": f"postgresql+psycopg2://u:{word}@h/d"})
    out = r.text(doc)
    assert json.loads(out)["by_application"] == {word: 2}  # a JSON key is never masked
    assert json.loads(out)["user"] == MASK  # a value is
    assert "postgresql+psycopg2://u:****@h/d" in out
    for sentence in (f"by_{word}lication {word}s x{word} postgresql://h/d", f"{word}_name={word}1"):
        assert r.text(sentence) == sentence


def test_a_short_password_is_still_masked_in_percent_encoded_urls() -> None:
    r = Redactor()
    r.register("app")
    assert "%3Aapp%40" not in r.text("redirect=postgresql%3A%2F%2Fu%3Aapp%40h%2Fd")


def test_a_long_password_is_masked_anywhere() -> None:
    r = Redactor()
    secret = "Lq4" + "-long-secret-9"
    r.register(secret)
    assert secret not in r.text(f"glued{secret}glued")


def test_mid_line_flush_holds_back_a_registered_secret() -> None:
    r_secret = "Fl7" + "-flushme-secret"
    from neondoctor.redaction import register_secret

    register_secret(r_secret)
    inner = io.StringIO()
    stream = RedactingStream(inner)
    stream.write(r_secret[:4])
    stream.flush()
    stream.write(r_secret[4:] + " done")
    stream.flush()
    stream.drain()
    assert r_secret not in inner.getvalue() and MASK in inner.getvalue()


def test_mid_line_flush_holds_back_a_key_value_in_progress() -> None:
    inner = io.StringIO()
    stream = RedactingStream(inner)
    stream.write("connecting with DB_PASS")
    stream.flush()
    assert inner.getvalue() == "connecting with "  # shown: nothing that could become a secret
    stream.write("WORD=" + PW[:3])
    stream.flush()
    stream.write(PW[3:] + "\n")
    assert PW not in inner.getvalue() and "DB_PASSWORD=****" in inner.getvalue()


def test_a_prompt_is_shown_on_flush() -> None:
    inner = io.StringIO()
    stream = RedactingStream(inner)
    stream.write("Have you checked, and is this ruled out? [y/N]: ")
    stream.flush()
    assert inner.getvalue() == "Have you checked, and is this ruled out? [y/N]: "


def test_user_code_printing_a_password_in_pieces(cli: Any, lab_primary: LabCluster, tmp_path: Path) -> None:
    """`print(pw[:4], end="", flush=True); print(pw[4:])` from a --metadata module: still masked."""
    password = lab_primary.create_role("piecewise", "Pc5" + "-pieces-of-pw")
    (tmp_path / "leaky_models.py").write_text(
        "import os, sys\n"
        "from sqlalchemy import MetaData\n"
        "pw = os.environ['LEAKY_PW']\n"
        "print(pw[:4], end='', flush=True)\n"
        "print(pw[4:])\n"
        "sys.stderr.write(pw[:5]); sys.stderr.flush(); sys.stderr.write(pw[5:] + '\\n')\n"
        "print('last words ' + pw[:6], end='', flush=True)\n"
        "print(pw[6:], end='')\n"
        "metadata = MetaData()\n")
    url = lab_primary.url(user="piecewise", password=password, query={"connect_timeout": "3"})
    env = {"DATABASE_URL": url, "LEAKY_PW": password, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = cli("sanity", "--metadata", "leaky_models:metadata", "--timeout", "3", env=env, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert password not in output, output[-2000:]
    assert output.count(MASK) >= 3, output[-2000:]
    assert "last words" in output


SHAPES = ["POSTGRES_PASSWORD={pw}", "DB_PASSWORD={pw}", "sslpassword={pw}", ':password=>"{pw}"',
          '{{\\"password\\": \\"{pw}\\"}}', "Pwd={pw};", APP_URL + "{pw} x@db.example.com/app",
          APP_URL + '{pw}"y@db.example.com/app', APP_URL + "{pw}@z@db.example.com/app",
          APP_URL + "{pw}?q#r@db.example.com/app"]
REFUSED = 'psycopg2.OperationalError: connection to server at "db", port 5432 failed: Connection refused'


@pytest.mark.parametrize("shape", SHAPES)
def test_log_sample_and_matched_text_are_masked(cli: Any, tmp_path: Path, shape: str) -> None:
    log = tmp_path / "app.log"
    log.write_text(f"2026-11-24 ERROR {shape.format(pw=PW)} {REFUSED}\n")  # one line: it is the sample shown
    # stale-connection's `InterfaceError[^\n]{0,80}connection is closed` puts the shape in "Matched:".
    paste = f"psycopg2.InterfaceError: {shape.format(pw=PW)} connection is closed"
    for args in (("triage", "--log", str(log)), ("triage", "--log", str(log), "--json"),
                 ("triage", "--no-probes", paste), ("triage", "--no-probes", "--json", paste)):
        result = cli(*args)
        assert result.returncode == 0, result.stderr
        assert MASK in result.stdout, result.stdout
        assert PW not in result.stdout + result.stderr, result.stdout
        for piece in (" x@", '"y@', "@z@", "?q#r"):
            assert piece not in result.stdout, result.stdout
