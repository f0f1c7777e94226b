"""Parse a DATABASE_URL into its parts. The audit of those parts lives in `audit.py`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, unquote_plus, urlsplit

from neondoctor.errors import ConfigError
from neondoctor.redaction import MASK, is_secret_key, register_secret

POSTGRES_DIALECTS = ("postgresql", "postgres")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "")


@dataclass(frozen=True)
class ParsedUrl:
    raw: str
    dialect: str  # "postgresql", or "postgres" for the scheme SQLAlchemy rejects
    driver: str | None  # explicit "+driver", None when the URL names none
    username: str | None
    password: str | None
    host: str | None  # None means a Unix socket (or a host given in the query)
    port: int | None
    database: str | None
    query: dict[str, str] = field(default_factory=dict)
    password_raw: str | None = field(default=None, repr=False)  # as written, before percent-decoding

    @property
    def query_password(self) -> str | None:
        """`?password=` (libpq accepts the password as a query parameter too)."""
        return self.query.get("password")

    def shown_query(self) -> dict[str, str]:
        """The query parameters as they may be shown: `password`, `sslpassword`... masked."""
        return {k: (MASK if is_secret_key(k) else v) for k, v in self.query.items()}

    @property
    def is_local(self) -> bool:
        host = (self.host or self.query.get("host", "")).lower()
        return host in LOCAL_HOSTS or host.startswith("/") or host.startswith("127.")

    @property
    def is_neon(self) -> bool:
        return bool(self.host) and (self.host or "").lower().endswith((".neon.tech", ".neon.build"))

    @property
    def is_neon_pooler(self) -> bool:
        return self.is_neon and "-pooler." in (self.host or "").lower()

    def masked(self) -> str:
        """The URL as it may be shown: the password replaced by ****."""
        scheme = self.dialect + (f"+{self.driver}" if self.driver else "")
        userinfo = ""
        if self.username is not None:
            userinfo = self.username + (f":{MASK}" if self.password is not None else "") + "@"
        host = self.host or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{self.port}" if self.port else ""
        db = f"/{self.database}" if self.database is not None else ""
        query = "&".join(f"{k}={v}" for k, v in self.shown_query().items())
        return f"{scheme}://{userinfo}{host}{port}{db}" + (f"?{query}" if query else "")


_SCHEME = re.compile(r"^(?P<dialect>[A-Za-z][A-Za-z0-9]*)(?:\+(?P<driver>[A-Za-z0-9_]+))?://")


def parse_url(raw: str) -> ParsedUrl:
    """Parse strictly, with one clear message per kind of mistake (ConfigError, exit 2)."""
    text = (raw or "").strip()
    if not text:
        raise ConfigError("DATABASE_URL is empty")
    match = _SCHEME.match(text)
    if not match:
        if "=" in text and "://" not in text:
            raise ConfigError(
                "DATABASE_URL looks like a key=value DSN; SQLAlchemy needs a URL: "
                "postgresql+psycopg2://user:password@host:5432/dbname"
            )
        raise ConfigError(
            "DATABASE_URL has no scheme: expected postgresql+psycopg2://user:password@host:5432/dbname"
        )
    dialect = match.group("dialect").lower()
    if dialect not in POSTGRES_DIALECTS:
        raise ConfigError(
            f"DATABASE_URL dialect {dialect!r} is not PostgreSQL: neondoctor diagnoses postgresql:// URLs"
        )
    # The password may hold characters that break urlsplit; find userinfo by the last '@'.
    rest = text[match.end():]
    authority, _, tail = _split_authority(rest)
    userinfo, at, hostport = authority.rpartition("@")
    username = password = pw_raw = None
    if at:
        user_raw, colon, pw_raw = userinfo.partition(":")
        username = unquote(user_raw)
        if colon:
            password = unquote(pw_raw)
            register_secret(pw_raw)
            register_secret(password)
    host, port = _split_host_port(hostport)
    try:
        parts = urlsplit("x://h" + tail)
    except ValueError as exc:
        raise ConfigError(f"DATABASE_URL is malformed: {exc}") from None
    database = unquote(parts.path[1:]) if parts.path.startswith("/") and len(parts.path) > 1 else None
    register_query_secrets(tail)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    return ParsedUrl(
        raw=text,
        dialect=dialect,
        driver=(match.group("driver") or None),
        username=username or None,
        password=password,
        host=host,
        port=port,
        database=database,
        query=query,
        password_raw=pw_raw if password is not None else None,
    )


def register_query_secrets(text: str) -> None:
    """Register every `?password=` / `&sslpassword=` value of a URL, as written and decoded.

    The value is taken up to the next '&' even past a '#', which an unencoded password may hold.
    """
    _, sep, query = text.partition("?")
    if not sep:
        return
    for pair in query.split("&"):
        key, eq, value = pair.partition("=")
        if eq and value and is_secret_key(unquote_plus(key).strip()):
            for form in {value, value.split("#", 1)[0]}:
                register_secret(form)
                register_secret(unquote(form))
                register_secret(unquote_plus(form))


_HOST_AFTER_AT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)(?::\d*)?(?:[/?#]|$)")


def _split_authority(rest: str) -> tuple[str, str, str]:
    # The authority ends at the first '/', '?' or '#' after the last '@' (passwords may hold '/').
    at = rest.rfind("@", 0, _first_of(rest, "?#"))
    if at < 0:
        # An unencoded '#' or '?' in the password hides the '@'; accept it when what follows the
        # last '@' is clearly a host (the audit then reports the unencoded characters).
        last = rest.rfind("@")
        if last > 0 and ":" in rest[:last] and _HOST_AFTER_AT.match(rest[last + 1:]) \
                and "/" not in rest[:last].split(":", 1)[0]:
            at = last
    start = at + 1 if at >= 0 else 0
    end = _first_of(rest, "/?#", start)
    return rest[:end], "", rest[end:]


def _first_of(text: str, chars: str, start: int = 0) -> int:
    positions = [p for p in (text.find(c, start) for c in chars) if p >= 0]
    return min(positions) if positions else len(text)


def _split_host_port(hostport: str) -> tuple[str | None, int | None]:
    if not hostport:
        return None, None
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            raise ConfigError("DATABASE_URL host has an unbalanced '[': an IPv6 address needs [addr]:port")
        host, after = hostport[1:close], hostport[close + 1:]
        if after and not after.startswith(":"):
            raise ConfigError(f"DATABASE_URL has unexpected text after the IPv6 host: {after!r}")
        port_text = after[1:] if after else ""
    else:
        if "]" in hostport:
            raise ConfigError("DATABASE_URL host has an unbalanced ']'")
        if "," in hostport:
            # libpq multi-host: keep the first for probes; the audit mentions the rest.
            hostport = hostport.split(",", 1)[0]
        host, _, port_text = hostport.partition(":")
    port = None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(f"DATABASE_URL port {port_text!r} is not a number between 1 and 65535")
        port = int(port_text)
    return unquote(host) or None, port


def libpq_kwargs(parsed: ParsedUrl) -> dict[str, str | int]:
    """Keyword arguments for psycopg2.connect: the URL's parts plus its libpq query parameters."""
    kwargs: dict[str, str | int] = {}
    if parsed.host:
        kwargs["host"] = parsed.host
    if parsed.port:
        kwargs["port"] = parsed.port
    if parsed.username:
        kwargs["user"] = parsed.username
    if parsed.password is not None:
        kwargs["password"] = parsed.password
    if parsed.database:
        kwargs["dbname"] = parsed.database
    for key, value in parsed.query.items():
        if key in LIBPQ_PARAMS:
            kwargs[key] = value
    return kwargs


# libpq connection parameters that may arrive as URL query parameters.
LIBPQ_PARAMS = frozenset(
    ["host", "hostaddr", "port", "dbname", "user", "password", "passfile", "channel_binding", "connect_timeout", "client_encoding", "options", "application_name", "fallback_application_name", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout", "replication", "gssencmode", "sslmode", "requiressl", "sslnegotiation", "sslcompression", "sslcert", "sslkey", "sslcertmode", "sslpassword", "sslrootcert", "sslcrl", "sslcrldir", "sslsni", "requirepeer", "ssl_min_protocol_version", "ssl_max_protocol_version", "krbsrvname", "gsslib", "gssdelegation", "service", "target_session_attrs", "load_balance_hosts", "require_auth", "min_protocol_version", "max_protocol_version"]
)
