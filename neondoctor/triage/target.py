"""The error's own target: which server, port, user and database the failing app was talking to.

A pasted error often names them: libpq (`connection to server at "h" (1.2.3.4), port 5432 failed`,
`for user "u"`, `database "d"`), asyncpg (`Connect call failed ('1.2.3.4', 5432)`), node
(`connect ECONNREFUSED 127.0.0.1:5432`), JDBC (`Connection to h:5432 refused`), Go (`dial tcp
1.2.3.4:5432`), pgx (`host=h user=u database=d`), Prisma (`at \\`h\\`:\\`5432\\``), Postgrex
(`tcp connect (h:5432)`), Npgsql (`Failed to connect to 1.2.3.4:5432`), and any URL in the paste.
The walk compares them with DATABASE_URL: checking another server than the failing one proves
nothing. Every field is optional; the first occurrence in the paste wins.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass
from typing import Any

from neondoctor.triage.context import raised_in


class _Lazy:
    """A regex compiled on first use (re's own cache keeps it): importing this module costs nothing."""

    __slots__ = ("source",)

    def __init__(self, source: str) -> None:
        self.source = source

    def search(self, text: str) -> re.Match[str] | None:
        return re.compile(self.source).search(text)


# a host name, an IPv4 address or an IPv6 one (bracketed, or bare: then the last colon starts the port)
_H = r"(?:\[[^\]\s]{1,100}\]|[\w.\-:%]{1,255})"
_HOST_PORT_ADDR = [  # (regex, has address group)
    _Lazy(r'connection to server at "(?P<host>[^"\n]{1,255})" \((?P<addr>[^)\n]{1,100})\), port (?P<port>\d{1,5}) failed'),
    _Lazy(r'connection to server at "(?P<host>[^"\n]{1,255})", port (?P<port>\d{1,5}) failed'),
    _Lazy(r'connection to server on socket "(?P<host>/[^"\n]{0,255}?)/\.s\.PGSQL\.(?P<port>\d{1,5})"'),
    _Lazy(r'Is the server running on host "(?P<host>[^"\n]{1,255})"(?: \((?P<addr>[^)\n]{1,100})\))? and accepting'
               r'\s+TCP/IP connections on port (?P<port>\d{1,5})'),
    _Lazy(r"Connect call failed \('(?P<addr>[^'\n]{1,100})', (?P<port>\d{1,5})"),
    _Lazy(rf'PostgreSQL server at "(?P<host>{_H}):(?P<port>\d{{1,5}})"'),
    _Lazy(rf"\b(?:ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ECONNRESET) (?P<addr>{_H}):(?P<port>\d{{1,5}})\b"),
    _Lazy(rf"\bConnection to (?P<host>{_H}):(?P<port>\d{{1,5}}) refused"),
    _Lazy(rf"\bdial tcp (?P<addr>{_H}):(?P<port>\d{{1,5}})"),
    _Lazy(rf"\b(?:tcp|ssl) connect \((?P<host>{_H}):(?P<port>\d{{1,5}})\)"),
    _Lazy(rf"[Ff]ailed to connect to (?P<addr>{_H}):(?P<port>\d{{1,5}})\b"),
    _Lazy(r"database server at `(?P<host>[^`\n]{1,255})`(?::`(?P<port>\d{1,5})`)?"),
    _Lazy(r"database server at `(?P<host>[^`:\n]{1,255}):(?P<port>\d{1,5})`"),
    _Lazy(r"could not translate host name \"(?P<host>[^\"\n]{1,255})\""),
    _Lazy(r"failed to resolve host '(?P<host>[^'\n]{1,255})'"),
    _Lazy(r"getaddrinfo (?:ENOTFOUND|EAI_AGAIN) (?P<host>[\w.\-]{1,255})"),
    _Lazy(r"\bhost=(?P<host>[^\s`'\"]{1,255})"),
]
_URL = _Lazy(r"\b(?P<scheme>postgres(?:ql)?(?:\+\w+)?|jdbc:postgresql)://(?:(?P<user>[^:@/\s]{1,100})"
                  r"(?::[^@\s]{0,200})?@)?(?P<host>\[[^\]\s]{1,100}\]|[^:/?\s,'\"`]{1,255})?(?::(?P<port>\d{1,5}))?"
                  r"(?:/(?P<database>[^?\s'\"`,]{1,100}))?(?:\?(?P<query>[^\s'\"`]{0,500}))?")
_USER = [_Lazy(r'(?:for user|user) "(?P<v>[^"\n]{1,100})"'),
         # the server's translations (translations.json): the word for "user", then the quoted name
         _Lazy(r"(?:Benutzer|utilisateur|usuario|utente|пользовател[яь]|користувач[аі]?|användare|用户|사용자|ユーザー?)"
                    r"\s{0,2}[»«\"“„]\s?(?P<v>[^\"»«“”\n]{1,100}?)\s?[«»\"“”]"),
         _Lazy(r'role "(?P<v>[^"\n]{1,100})" (?:does not|is not)'),
         _Lazy(r"\buser=(?P<v>[^\s`'\",]{1,100})"), _Lazy(r"credentials for `(?P<v>[^`\n]{1,100})`")]
_DATABASE = [_Lazy(r'database "(?P<v>[^"\n]{1,100})"'),
             _Lazy(r"(?:Datenbank|base de données|base de datos|базы?(?: данных)?|бази даних|databas|数据库)"
                   r"\s{0,2}[»«\"“„]\s?(?P<v>[^\"»«“”\n]{1,100}?)\s?[«»\"“”]"),
             _Lazy(r"\b(?:database|dbname)=(?P<v>[^\s`'\",]{1,100})"),
             _Lazy(r"Database `(?P<v>[^`\n]{1,100})` does not exist")]
_SSLMODE = _Lazy(r"\bsslmode=(?P<v>[a-z-]{3,12})")
_SQLSTATE = _Lazy(r"(?:SQLSTATE\s?[\[(=:]?\s?'?|sqlstate=|pgcode[=:]\s?'?|\bcode: ')(?P<v>[0-9A-Z]{5})\b")
_DRIVERS = [  # (marker, driver): the first marker found names the driver
    (_Lazy(r"\bpsycopg2\b"), "psycopg2"), (_Lazy(r"\bpsycopg(?:_pool)?\."), "psycopg"),
    (_Lazy(r"\basyncpg\b"), "asyncpg"), (_Lazy(r"\bpg8000\b"), "pg8000"),
    (_Lazy(r"@neondatabase/serverless|NeonDbError"), "neon-serverless"),
    (_Lazy(r"node_modules/pg(?:-pool)?/|\bECONNREFUSED\b"), "node-postgres"),
    (_Lazy(r"\bPrisma|\bP10\d\d\b"), "prisma"), (_Lazy(r"org\.postgresql"), "pgjdbc"),
    (_Lazy(r"\bNpgsql\b"), "npgsql"), (_Lazy(r"\bPostgrex\b|DBConnection"), "postgrex"),
    (_Lazy(r"\bPG::|ActiveRecord"), "ruby-pg"), (_Lazy(r"\bpgx\b|failed to connect to `"), "pgx"),
    (_Lazy(r"\bpq: "), "lib/pq"), (_Lazy(r"\bpsql: "), "psql"),
]
_LOCAL = {"localhost", "127.0.0.1", "::1", "localhost.localdomain"}


@dataclass(frozen=True)
class ErrorTarget:
    host: str | None = None
    port: int | None = None
    address: str | None = None  # the IP address the client tried, when the error prints it
    user: str | None = None
    database: str | None = None
    driver: str | None = None
    sslmode: str | None = None
    sqlstate: str | None = None
    raised_in: str = "unknown"  # connect | in-use | unknown (triage/context.py)

    @property
    def names_endpoint(self) -> bool:
        return bool(self.host or self.address)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """user@host:port/database as far as known (never a password: the error carries none we keep)."""
        where = self.host or self.address or "?"
        if self.host and self.address and self.address != self.host:
            where += f" ({self.address})"
        text = f"{self.user + '@' if self.user else ''}{where}{':' + str(self.port) if self.port else ''}"
        return text + (f"/{self.database}" if self.database else "")


def _first(patterns: list[_Lazy], text: str) -> str | None:
    for pattern in patterns:
        found = pattern.search(text)
        if found:
            return found["v"]
    return None


def _strip_brackets(value: str | None) -> str | None:
    return value.strip("[]") if value else value


def extract_target(text: str) -> ErrorTarget:
    """Everything the (normalised) paste says about where the failing connection went."""
    host = addr = None
    port: int | None = None
    user = database = sslmode = None
    for pattern in _HOST_PORT_ADDR:
        found = pattern.search(text)
        if not found:
            continue
        groups = found.groupdict()
        host, addr = _strip_brackets(groups.get("host")), _strip_brackets(groups.get("addr"))
        port = int(groups["port"]) if groups.get("port") else None
        break
    if host is None and addr is None and any(ord(ch) > 127 for ch in text):
        host, addr, port = _translated_prefix(text)
    url = _URL.search(text)
    if url:
        host = host or _strip_brackets(url["host"])
        port = port or (int(url["port"]) if url["port"] else None)
        user, database = url["user"], url["database"]
        query = url["query"] or ""
        mode = re.search(r"(?:^|&)sslmode=([a-z-]+)", query)
        sslmode = mode.group(1) if mode else None
    if host and _is_ip(host) and not addr:
        addr = host
    user = _first(_USER, text) or user
    database = _first(_DATABASE, text) or database
    sslmode = sslmode or (m["v"] if (m := _SSLMODE.search(text)) else None)
    sqlstate = m["v"] if (m := _SQLSTATE.search(text)) else None
    driver = next((name for marker, name in _DRIVERS if marker.search(text)), None)
    return ErrorTarget(host=host, port=port, address=addr, user=user, database=database, driver=driver,
                       sslmode=sslmode, sqlstate=sqlstate, raised_in=raised_in(text))


def _translated_prefix(text: str) -> tuple[str | None, str | None, int | None]:
    """host, address, port from libpq's prefix in the client's language (translations.json)."""
    from neondoctor.triage.translations import connect_prefixes

    for pattern in connect_prefixes():
        found = pattern.search(text)
        if found:
            groups = found.groupdict()
            if groups.get("socket"):
                folder, _, name = groups["socket"].rpartition("/")
                port_text = name.rsplit(".", 1)[-1]
                return folder or "/", None, int(port_text) if port_text.isdigit() else None
            return groups.get("host"), groups.get("addr"), int(groups["port"]) if groups.get("port") else None
    return None, None, None


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return False
    return True


def same_host(a: str, b: str) -> bool:
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    return a == b or (a in _LOCAL and b in _LOCAL)


def differences(target: ErrorTarget, url_host: str | None, url_port: int | None, url_user: str | None,
                url_database: str | None, url_addresses: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The fields where the error and DATABASE_URL name different things; only fields both name count.

    `url_addresses` are what the URL's host resolves to: an error that prints only an address differs
    when that address is not among them.
    """
    diffs: list[str] = []
    if target.host and url_host and not target.host.startswith("/"):
        if not same_host(target.host, url_host):
            diffs.append("host")
    elif target.address and url_host and not target.host:
        if _is_ip(url_host) or url_host.lower() in _LOCAL:
            if not same_host(target.address, url_host):
                diffs.append("host")
        elif url_addresses and target.address not in url_addresses:
            diffs.append("host")
    if target.port and target.port != (url_port or 5432):
        diffs.append("port")
    if target.user and url_user and target.user != url_user:
        diffs.append("user")
    if target.database and url_database and target.database != url_database:
        diffs.append("database")
    return tuple(diffs)
