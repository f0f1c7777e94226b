"""What a committed database credential looks like in a line of text (used by `neondoctor secrets`).

Shapes: URL userinfo (`postgresql://u:pw@h`), `?password=` in a URL (JDBC too), a libpq key=value
DSN, `PGPASSWORD=`/`POSTGRES_PASSWORD:`/`DB_PASSWORD=` variables (shell, .env, compose), and any of
these base64-encoded (a Kubernetes Secret). Placeholders (`<password>`, `${DB_PASSWORD}`, `****`)
and code that reads a secret at run time (`password=cfg.db_password`) are not credentials.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote

ALLOW_MARKER = "neondoctor: allow-secret"
MIN_SECRET_LENGTH = 4  # shorter values in a URL are examples ("u:pw@"), not credentials worth a finding

# scheme://user:password@  (user may be empty: redis://:pw@host)
_URL_SECRET = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,40}://[^:/?#@\s'\"<>`]{0,256}:(?P<secret>[^@\s'\"`]{1,512})@")
# ?password=... / &sslpassword=... in a URL (jdbc:postgresql://h/db?user=u&password=<password>).
_QUERY_SECRET = re.compile(r"(?i)[?&;](?:ssl)?password=(?P<secret>[^&\s'\"`<>]{1,512})")
# password=... in a key=value DSN: no spaces around '=', and a neighbouring key=value token separated
# by whitespace only (so `f(user=u, password=pw)` in code is not taken for a DSN).
_DSN_SECRET = re.compile(r"(?i)\bpassword=(?P<q>['\"]?)(?P<secret>[^\s'\";,&`)]{1,512})")
_DSN_BEFORE = re.compile(r"\b[A-Za-z_]+=[^\s,()=]+\s+$")
_DSN_AFTER = re.compile(r"^['\"]?\s+[A-Za-z_]+=[^\s,()]")
_CODE_EXPRESSION = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|[A-Za-z_][\w.]*\(.*")
# An upper-case variable naming a password: PGPASSWORD=pw, DB_PASSWORD="pw" (shell, .env: no blank
# around '='), POSTGRES_PASSWORD: pw (YAML, compose). `X_PASSWORD = "..."` is code, read as such.
_VARIABLE = re.compile(
    r"(?<![\w$])(?P<key>[A-Z0-9_]*(?:PASSWORD|PASSWD|_PWD))"
    r"(?:=(?P<q>['\"]?)|:\s+(?P<q3>['\"]?))"
    r"(?P<secret>[^\s'\";,&`)]{1,512})"
)
# Unbounded on purpose: a bounded run would be retried at every offset of a long image blob.
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{28,}={0,2}")
_BASE64_MAX = 4096



def _base64_hints(*words: bytes) -> tuple[str, ...]:
    """Substrings that the base64 of each word shows at each of the 3 byte alignments."""
    hints = []
    for word in words:
        for shift in range(3):
            encoded = base64.b64encode(b"\0" * shift + word).decode()
            groups = [g for g in range(len(encoded) // 4) if 3 * g >= shift and 3 * g + 2 < shift + len(word)]
            hints.append(encoded[4 * groups[0]:4 * groups[-1] + 4])
    return tuple(hints)


# A line is worth decoding only if it holds the base64 of one of these (a cheap literal test first).
_BASE64_HINTS = _base64_hints(b"postgres", b"password")

PLACEHOLDER_WORDS = {
    "password", "passwd", "pass", "pwd", "pw", "secret", "changeme", "change_me", "change-me", "example",
    "placeholder", "redacted", "dummy", "fake", "xxx", "none", "null", "mypassword", "yourpassword",
    "your_password", "your-password", "<password>", "todo", "fixme",
}
PLACEHOLDER_PARTS = ("example", "placeholder", "changeme", "change_me", "your", "redacted", "dummy", "<", "${",
                     "$(", "{{", "%(", "****")


def is_placeholder(secret: str) -> bool:
    """True for values that are obviously not a real credential (<password>, ${DB_PASSWORD}, ****)."""
    value = unquote(secret.strip().strip("'\""))
    low = value.lower()
    if len(value) < MIN_SECRET_LENGTH or low in PLACEHOLDER_WORDS:
        return True
    if any(part in low for part in PLACEHOLDER_PARTS):
        return True
    if re.fullmatch(r"[*x.]+|\$\w+|\{[^{}]*\}|%s|\?", low):  # masks, $VAR, {pw} format fields, %s
        return True
    # An f-string or .format() field means the value is built at run time.
    return "{" in value


Span = tuple[int, int]


def scan_line(line: str) -> tuple[str, list[Span]] | None:
    """(kind, secret spans) when the line holds a real-looking credential, else None."""
    if ALLOW_MARKER in line:
        return None
    spans: list[Span] = []
    kinds: list[str] = []

    def hit(kind: str, span: Span) -> None:
        spans.append(span)
        kinds.append(kind)

    # Cheap literal tests first: most lines of a big file hold none of the shapes.
    if "://" in line:
        for match in _URL_SECRET.finditer(line):
            if not is_placeholder(match.group("secret")):
                hit("connection URL", match.span("secret"))
        for match in _QUERY_SECRET.finditer(line):
            if not is_placeholder(match.group("secret")):
                hit("connection URL", match.span("secret"))
    if "password=" in line.lower():
        for match in _DSN_SECRET.finditer(line):
            in_dsn = _DSN_BEFORE.search(line[:match.start()]) or _DSN_AFTER.match(line[match.end():])
            if in_dsn and not is_placeholder(match.group("secret")):
                hit("key=value DSN", match.span("secret"))
    if "PASSWORD" in line or "PASSWD" in line or "_PWD" in line:
        for match in _VARIABLE.finditer(line):
            quoted = match.group("q") or match.group("q3")
            # PGPASSWORD=cfg.db_password in code is an expression that reads a secret, not one.
            if not quoted and _CODE_EXPRESSION.fullmatch(match.group("secret")):
                continue
            if not is_placeholder(match.group("secret")):
                hit("PGPASSWORD" if match.group("key") == "PGPASSWORD" else "password variable",
                    match.span("secret"))
    if len(line) >= 28 and any(hint in line for hint in _BASE64_HINTS):
        for match in _BASE64.finditer(line):
            if len(match.group(0)) <= _BASE64_MAX and _decoded_credential(match.group(0)):
                hit("base64-encoded connection URL", match.span())
    return (kinds[0], spans) if spans else None


def _decoded_credential(token: str) -> bool:
    """A base64 token that decodes to text holding a connection string with a real-looking password."""
    padded = token + "=" * (-len(token) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return False
    if b"://" not in raw and b"password" not in raw.lower():
        return False
    text = raw.decode("utf-8", errors="replace")
    if "postgres" not in text.lower() and "password" not in text.lower():
        return False
    return any(scan_line(part) for part in text.splitlines() if part)
