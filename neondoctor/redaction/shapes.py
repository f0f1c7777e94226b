"""What a secret looks like: the patterns that mask one never registered, and the forms a known one takes.

* URL userinfo (``scheme://user:password@host``), even when the password holds an unencoded
  ``@ ? #``, a blank or a quote: the password ends at the ``@`` a host follows;
* ``password=...``/``DB_PASSWORD=...``/``Pwd=...`` keys in DSNs, env files, JSON (escaped or not),
  Ruby hashes and ODBC strings;
* a registered secret shorter than ``STRONG_LENGTH`` may be an ordinary word (``app``): it is
  masked only where it stands as a token, never inside a URL scheme, a JSON key or a key=value key.

Used by neondoctor.redaction.redactor; nothing here keeps state.
"""

from __future__ import annotations

import re
from urllib.parse import quote, quote_plus, unquote

MASK = "****"
STRONG_LENGTH = 12  # below this a password may be a word; the url audit flags it as weak

# A key whose value is a secret: password, sslpassword, PGPASSWORD, DB_PASSWORD, passwd, user_pwd, Pwd.
_SECRET_KEY = r"(?i:\w*(?:password|passwd)|\w*_pwd|pwd)"
_SECRET_KEY_RE = re.compile(rf"{_SECRET_KEY}")
# key, its closing quote (maybe escaped, as in a JSON string inside a log line), then = : or =>,
# then the value: escaped-quoted, double-quoted, single-quoted, ODBC {braced}, or bare.
_KEY_VALUE = re.compile(
    rf"(?<!\w)(?P<key>{_SECRET_KEY})(?:\\?[\"'])?\s{{0,3}}(?:=>|[=:])\s{{0,3}}"
    r"(?:(?P<eq>\\\")(?P<s1>(?:(?!\\\")[^\n]){1,512})"
    r"|(?P<dq>\")(?P<s2>(?:\\.|[^\"\\\n]){1,512})"
    r"|(?P<sq>')(?P<s3>[^'\n]{1,512})"
    r"|(?P<br>\{)(?P<s4>[^}\n]{1,512})"
    r"|(?P<s5>[^\s,;&)}\"'<>][^\s,;&)}\"']{0,511}))"
)
_SCHEME = re.compile(r"(?<![\w+.\-])[a-zA-Z][a-zA-Z0-9+.\-]{0,40}://")
_USER = re.compile(r"[^:/?#@\s'\"<>\[]{0,256}:")
# What follows the '@' that ends a password: a host (name or [IPv6]), maybe a port, then the end of
# the authority.
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9_][A-Za-z0-9_.\-]{0,252})(?::\d{0,5})?"
                   r"(?=[/?#\s'\"<>,;)\]}]|$)")
_PORT_LIKE = re.compile(r"\d{1,5}(?:[/\s?#]|$)")
_UNSAFE_IN_TIER1 = re.compile(r"[\s'\"<>]")
# Where a short secret is never masked: URL schemes, JSON object keys, and the keys of key=value
# pairs (a query string, a DSN).
_PROTECTED = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,40}://|\"(?:[^\"\\\n]|\\.){0,200}\"(?=\s*:)"
                        r"|(?<![^\s?&;,(])[A-Za-z_][\w.\-]{0,63}(?==)")
# The masks above leave these behind; they are never secrets.
_ALREADY_MASKED = {MASK, "***", "xxx", "<password>", "None", "null"}


def is_secret_key(key: str) -> bool:
    """True for a parameter or variable name whose value is a password (``sslpassword``, ``DB_PWD``)."""
    return _SECRET_KEY_RE.fullmatch(key) is not None


def secret_forms(secret: str) -> set[str]:
    """The forms a secret travels in: raw, percent-encoded (once, twice, plus), JSON and repr escaped."""
    import json  # here: a command that registers no secret never loads it

    forms = {secret, quote(secret, safe=""), quote_plus(secret), unquote(secret)}
    forms |= {quote(f, safe="") for f in list(forms)}
    for f in list(forms):
        forms |= {json.dumps(f)[1:-1], json.dumps(f, ensure_ascii=False)[1:-1], repr(f)[1:-1]}
    # Very short values would mask ordinary characters; they are still caught by the patterns.
    return {f for f in forms if len(f) >= 3}


def token_pattern(form: str) -> str:
    # A word character at an edge of the secret must not touch another word character, except a
    # percent escape before it (a URL encoded once more: %3Aapp%40).
    left = r"(?:(?<!\w)|(?<=%[0-9A-Fa-f]{2}))" if re.match(r"\w", form[0]) else ""
    right = r"(?!\w)" if re.match(r"\w", form[-1]) else ""
    return left + re.escape(form) + right


def mask_tokens(pattern: re.Pattern[str], value: str) -> str:
    protected = [m.span() for m in _PROTECTED.finditer(value)]

    def sub(match: re.Match[str]) -> str:
        start, end = match.span()
        if any(p_start <= start and end <= p_end for p_start, p_end in protected):
            return match.group(0)
        return MASK

    return pattern.sub(sub, value)


def mask_urls(value: str) -> str:
    """Mask the password of every scheme://user:password@host, even with unencoded @ ? # space or "."""
    out: list[str] = []
    pos = 0
    for scheme in _SCHEME.finditer(value):
        if scheme.start() < pos:
            continue
        user = _USER.match(value, scheme.end())
        if not user:
            continue
        end = _password_end(value, user.end())
        if end is None or value[user.end():end] in _ALREADY_MASKED:
            continue
        out += [value[pos:user.end()], MASK]
        pos = end
    out.append(value[pos:])
    return "".join(out)


def _password_end(value: str, start: int) -> int | None:
    """Index of the '@' that ends the password starting at `start`, or None when there is none.

    First the usual shape: no blank or quote in the password, up to the last '@' before a host.
    Then, failing that, a password holding blanks or quotes: up to the first '@' before a host,
    unless what follows the ':' is a port (scheme://host:5432/db ... a@b is not a password).
    """
    line_end = value.find("\n", start)
    limit = min(len(value) if line_end < 0 else line_end, start + 1024)
    blank = _UNSAFE_IN_TIER1.search(value, start, limit)
    tier1_end = blank.start() if blank else limit
    at = value.rfind("@", start, tier1_end)
    while at > start:
        if _HOST.match(value, at + 1):
            return at
        at = value.rfind("@", start, at)
    if blank is None or _PORT_LIKE.match(value, start):
        return None
    at = value.find("@", tier1_end, min(limit, start + 256))
    while at > start:
        if "://" not in value[start:at] and _HOST.match(value, at + 1):
            return at
        at = value.find("@", at + 1, min(limit, start + 256))
    return None


def mask_key_value(match: re.Match[str]) -> str:
    for group in ("s1", "s2", "s3", "s4", "s5"):
        if match.group(group) is not None:
            break
    secret = match.group(group)
    if secret in _ALREADY_MASKED:
        return match.group(0)
    prefix = match.string[match.start():match.start(group)]
    if group == "s5" and match.group("key").lower() == "pwd" and secret[0] in "/~":
        return match.group(0)  # PWD=/home/app is the shell's working directory, not a password
    return prefix + MASK


def mask_shapes(value: str) -> str:
    """Mask every secret-shaped substring: URL passwords, then secret keys' values."""
    if "://" in value:
        value = mask_urls(value)
    return _KEY_VALUE.sub(mask_key_value, value)


# Where a partial line may still be turning into a secret: a secret key or the start of a URL.
KEY_OR_URL = re.compile(rf"{_SECRET_KEY}|{_SCHEME.pattern}")
