"""url.password-weak: a short or dictionary password of a remote server is a finding (never showing it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from neondoctor.audit.password_strength import weak_password
from neondoctor.audit.url_audit import audit_url
from neondoctor.redaction import REDACTOR
from neondoctor.url import parse_url

STRONG = "Rb8-" + "long-random-Pw"
REMOTE = "db.example.com/app?sslmode=require&connect_timeout=5"
WORD = "post" + "gres"  # built at run time: no credential-shaped line in the repository


@pytest.fixture(autouse=True)
def _forget_word_passwords() -> Iterator[None]:
    """parse_url registers `app` and `postgres` process-wide: later tests must not mask those words."""
    saved = REDACTOR.secrets
    yield
    REDACTOR.restore(saved)


@pytest.mark.parametrize("password,weak", [
    ("app", True), ("postgres", True), ("Postgres", True), ("password1", True), ("Xy7-short", True),
    ("neondb", True), (STRONG, False), ("correct horse battery staple", False),
])
def test_weak_password(password: str, weak: bool) -> None:
    assert (weak_password(password) is not None) is weak


def test_password_equal_to_the_role_name_is_weak() -> None:
    assert weak_password("alexander-the-great", "Alexander-The-Great") is not None


@pytest.mark.parametrize("url,flagged", [
    (f"postgresql+psycopg2://app:{WORD}@{REMOTE}", True),
    (f"postgresql+psycopg2://app@{REMOTE}&password=app", True),
    (f"postgresql+psycopg2://app:{quote(STRONG, safe='')}@{REMOTE}", False),
    (f"postgresql+psycopg2://{WORD}:{WORD}@localhost:5432/app?connect_timeout=5", False),  # local dev
    (f"postgresql+psycopg2://app@{REMOTE}", False),  # no password: .pgpass or IAM
])
def test_audit_flags_weak_remote_passwords(url: str, flagged: bool) -> None:
    findings = {f.id: f for f in audit_url(parse_url(url)).findings}
    assert ("url.password-weak" in findings) is flagged
    if flagged:
        assert findings["url.password-weak"].severity == "warn"
        assert "postgres" not in findings["url.password-weak"].message  # the core never puts it in
        assert ":app" not in findings["url.password-weak"].message and " app" not in findings["url.password-weak"].message


def test_url_command_reports_it_without_the_password(cli: Any) -> None:
    word = "postgres"
    result = cli("url", "--json", f"postgresql+psycopg2://app:{word}@{REMOTE}")
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    finding = next(f for f in doc["findings"] if f["id"] == "url.password-weak")
    assert word not in finding["message"]
    assert doc["url"].startswith("postgresql+psycopg2://app:****@")  # the scheme survives the word
