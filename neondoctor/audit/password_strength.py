"""Is a DATABASE_URL password weak? Short, or a word anyone tries first (and one redaction cannot
mask everywhere: a short password is masked only where it stands alone, see neondoctor.redaction)."""

from __future__ import annotations

from typing import Any

from neondoctor.findings import Finding
from neondoctor.redaction import STRONG_LENGTH
from neondoctor.url import ParsedUrl

# Tried first by anyone guessing, and the defaults of images, tutorials and tools.
COMMON_PASSWORDS = frozenset("""
password passw0rd password1 password123 pass pass123 secret secret123 admin admin123 administrator root
toor postgres postgresql postgres123 pgpass pgsql psql sql database db dbpass dbpassword app application
user username guest test test123 testing demo example sample default changeme letmein welcome qwerty
qwerty123 qwertyuiop abc123 abcdef 123456 1234567 12345678 123456789 1234567890 111111 000000 iloveyou
monkey dragon master login access neon neondb django rails flask sqlalchemy docker local localhost
development dev staging prod production
""".split())  # noqa: SIM905 - a word list reads better as text


def weak_password(password: str, username: str | None = None) -> str | None:
    """Why the password is weak (never the password itself), or None."""
    low = password.lower()
    if low in COMMON_PASSWORDS or (username and low == username.lower()):
        return "is a common word or the role name"
    if len(password) < STRONG_LENGTH:
        return f"is shorter than {STRONG_LENGTH} characters"
    return None


def check(url: ParsedUrl, *_: Any) -> list[Finding]:
    """url.password-weak: a short or dictionary password (userinfo or ?password=) of a remote server.

    A local development server with `postgres`/`postgres` is the norm, as for sslmode: not reported.
    """
    password = url.password if url.password is not None else url.query_password
    if not password or url.is_local:
        return []
    why = weak_password(password, url.username)
    if why is None:
        return []
    return [Finding("url.password-weak", "warn",
                    f"the password {why}: easy to guess, and a password that is also an ordinary word "
                    f"cannot be masked inside other words of the output; use {STRONG_LENGTH}+ random "
                    "characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))')")]
