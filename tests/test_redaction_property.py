"""Property: whatever the password, once registered it never survives redaction in any form.

Passwords: arbitrary text, URL-special characters left unencoded, percent-encoded look-alikes,
unicode, and ordinary words (`app`, `postgres`) that must be masked as values without mangling the
words, keys and schemes around them. Contexts: URL userinfo (encoded and raw), the query string
(`?password=`, `sslpassword=`), DSNs, env lines, JSON (plain and escaped inside another string),
Python reprs, driver error text. What counts as a leak is in leak_check.py.
"""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leak_check import leaks

from neondoctor.redaction import MASK, Redactor

COMMON_WORDS = ["app", "postgres", "admin", "secret", "neondb", "password", "user", "host", "sslmode"]
passwords = st.one_of(
    st.text(min_size=8, max_size=40).filter(lambda s: s.strip() == s and len(s.strip()) >= 8),
    st.from_regex(r"[A-Za-z0-9@:/?#%&=+ ]{8,30}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9]{2,8}[ ,;&}\"'\\@?#][A-Za-z0-9 ,;&}\"'\\@?#]{1,12}[A-Za-z0-9]", fullmatch=True),
    st.sampled_from(COMMON_WORDS),
    st.sampled_from(["p@ss:w/rd?#1", "localhost:5432", "%40%3A%2F-enc", "пароль-секрет", "endpoint=ep-x;pw1"]),
)
words = st.from_regex(r"[A-Za-z ]{0,20}", fullmatch=True)


def _contexts(password: str, prefix: str, suffix: str) -> list[str]:
    enc, plus = quote(password, safe=""), quote_plus(password)
    return [
        f"{prefix}postgresql+psycopg2://user:{enc}@host/db{suffix}",
        f"{prefix} postgresql://user:{password}@db.example.com:5432/app {suffix}",
        f"postgresql+psycopg2://user@host:5432/db?sslmode=require&password={enc}&application_name=x",
        f"jdbc:postgresql://host/db?user=u&sslpassword={plus}",
        f"{prefix}FATAL: password {password} rejected{suffix}",
        f"host=h password={plus} dbname=d",
        f"PGPASSWORD={password}",
        f"export DB_PASSWORD={enc}",
        json.dumps({"password": password, "by_application": {"app": 1}}),
        json.dumps({"password": password}, ensure_ascii=False),
        json.dumps({"event": "connect", "raw": json.dumps({"password": password})}),
        repr({"password": password}),
        f"{prefix}{password}{' ' if suffix else ''}{suffix}",
    ]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(password=passwords, prefix=words, suffix=words)
def test_registered_password_never_survives(password: str, prefix: str, suffix: str) -> None:
    r = Redactor()
    r.register(password)
    for text in _contexts(password, prefix, suffix):
        out = r.text(text)
        assert not leaks(password, out), (text, out)


@settings(max_examples=200)
@given(password=st.sampled_from(COMMON_WORDS), other=st.sampled_from(["application", "postgresql", "administrator",
                                                                      "secrets", "sslmode_require", "hostname"]))
def test_a_word_password_never_mangles_other_words(password: str, other: str) -> None:
    r = Redactor()
    r.register(password)
    text = json.dumps({f"by_{other}": {other: 1}, "url": f"postgresql+psycopg2://u@h/d?sslmode={other}"})
    assert r.text(text) == text


@given(secret=st.from_regex(r"[A-Za-z0-9_\-]{6,30}", fullmatch=True))
def test_unregistered_url_password_is_masked_by_pattern(secret: str) -> None:
    r = Redactor()
    out = r.text(f"could not connect with postgresql://alice:{secret}@db.example.com:5432/app")
    assert secret not in out
    assert "alice:****@db.example.com" in out


@given(secret=st.from_regex(r"[A-Za-z0-9]{3,10}[ @?#\"][A-Za-z0-9]{3,10}", fullmatch=True))
def test_unregistered_url_password_with_unencoded_characters(secret: str) -> None:
    out = Redactor().text(f"could not connect with postgresql://alice:{secret}@db.example.com:5432/app")
    assert out == f"could not connect with postgresql://alice:{MASK}@db.example.com:5432/app"


def test_key_value_dsn_and_pgpassword_masked() -> None:
    r = Redactor()
    pw = "hunter" + "42x"  # built at run time: no credential-shaped line in the repository
    assert pw not in r.text(f"host=db user=u password={pw} sslmode=require")
    assert pw not in r.text(f"export PGPASSWORD={pw}")
    assert pw not in r.text(f"password: '{pw}'")


def test_ordinary_text_is_left_alone() -> None:
    r = Redactor()
    text = 'FATAL:  password authentication failed for user "app"'
    assert r.text(text) == text
