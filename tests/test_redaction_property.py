"""Property: whatever the password, once registered it never survives redaction in any form."""

from __future__ import annotations

from urllib.parse import quote, quote_plus

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neondoctor.redaction import Redactor

# Passwords with URL-special characters, unicode, and look-alikes of other URL parts.
passwords = st.one_of(
    st.text(min_size=8, max_size=40).filter(lambda s: s.strip() == s and len(s.strip()) >= 8),
    st.from_regex(r"[A-Za-z0-9@:/?#%&=+ ]{8,30}", fullmatch=True),
    st.sampled_from(["p@ss:w/rd?#1", "localhost:5432", "%40%3A%2F-enc", "пароль-секрет", "endpoint=ep-x;pw1"]),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(password=passwords, prefix=st.text(max_size=20), suffix=st.text(max_size=20))
def test_registered_password_never_survives(password: str, prefix: str, suffix: str) -> None:
    r = Redactor()
    r.register(password)
    texts = [
        f"{prefix}postgresql+psycopg2://user:{quote(password, safe='')}@host/db{suffix}",
        f"{prefix}FATAL: password {password} rejected{suffix}",
        f"host=h password={quote_plus(password)} dbname=d",
        f"PGPASSWORD={password}",
        f'{{"password": "{password}"}}',
    ]
    for text in texts:
        out = r.text(text)
        for form in (password, quote(password, safe=""), quote_plus(password)):
            if len(form) >= 3:
                assert form not in out, (text, out)


@given(secret=st.from_regex(r"[A-Za-z0-9_\-]{6,30}", fullmatch=True))
def test_unregistered_url_password_is_masked_by_pattern(secret: str) -> None:
    r = Redactor()
    out = r.text(f"could not connect with postgresql://alice:{secret}@db.example.com:5432/app")
    assert secret not in out
    assert "alice:****@db.example.com" in out


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
