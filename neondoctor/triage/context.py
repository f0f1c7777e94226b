"""Where was the error raised: while opening a connection, or on one already established?

The same words mean different failures by where they happen. `server closed the connection
unexpectedly` raised inside `connect()` is a connect failure (TLS, a proxy, a server starting up);
raised by `cursor.execute()` on a pooled connection it is a stale connection. The message cannot
tell; the stack can. In order:

1. libpq's own prefix `connection to server at "h" ..., port N failed:` (or `on socket`), in
   English or translated, is only printed while a connection is being opened: connect.
2. The innermost frame that names a connect or a use of the connection, in the first traceback
   of the paste (the root cause; later ones are the wrappers raised "during handling").
   Python (`File "...", line N, in FUNC` plus its code line), Java/.NET/node (`at a.b.Func(`).
3. SQLAlchemy's `[SQL: ...]` section: the error was raised by a statement: in-use.
4. Otherwise unknown.
"""

from __future__ import annotations

import re

CONNECT = "connect"
IN_USE = "in-use"
UNKNOWN = "unknown"

_LIBPQ_CONNECTING = re.compile(
    r'connection to server (?:at "[^"\n]{1,300}"(?: \([^)\n]{1,100}\))?, port \d{1,5}|on socket "[^"\n]{1,300}") failed'
    r"|could not connect to server:", re.IGNORECASE)
# Frames: Python `File "x.py", line 3, in connect`, then the code line; JVM/.NET/node `at pkg.Class.method(`.
_PY_FRAME = re.compile(r'^\s*File "[^"\n]{1,500}", line \d+, in (?P<func>[\w<>.]+)[^\n]*\n(?P<code>[^\n]*)',
                       re.MULTILINE)
_AT_FRAME = re.compile(r"^\s*at (?:async )?(?P<func>[\w$<>.\[\]/` -]{1,300}?)\s*[(\[]", re.MULTILINE)
_CHAINED = re.compile(r"^(?:The above exception was the direct cause|During handling of the above exception)",
                      re.MULTILINE)
_SQL_SECTION = re.compile(r"^\[SQL: ", re.MULTILINE)

# Function names (the last dotted part, case-insensitive) and code fragments of each kind.
_CONNECT_FUNCS = frozenset({
    "connect", "_connect", "__connect", "connect_addr", "_connect_addr", "__connect_addr", "_create_connection",
    "create_connection", "_do_connect", "get_new_connection", "connect_async", "_connect_gen", "connect_utf8",
    "openconnectionimpl", "openconnection", "tryconnect", "afterconnect", "_connect_with_retries",
    "connection.connect", "establish_connection", "new_client", "raw_connect", "getconnection",
})
_USE_FUNCS = frozenset({
    "execute", "executemany", "_execute", "do_execute", "_exec_driver_sql", "_execute_context", "fetch", "fetchrow",
    "fetchval", "fetchone", "fetchall", "_do_execute", "bind_execute", "_bind_execute", "query", "_query",
    "cursor", "commit", "rollback", "do_ping", "_ping", "executequery", "executeupdate", "sendquery",
    "exec_query", "exec_params", "async_exec", "_executemany", "_prepare", "prepare", "copy_expert",
})
_CONNECT_CODE = re.compile(r"\b(?:_?connect|connect_addr|_create_connection)\(")
_USE_CODE = re.compile(r"\b(?:execute|executemany|cursor|fetch\w*|commit|rollback|query)\(")


def _kind(func: str, code: str = "") -> str | None:
    name = func.rsplit(".", 1)[-1].strip("`<>").lower()
    if name in _CONNECT_FUNCS or func.lower().endswith("connection.connect"):
        return CONNECT
    if name in _USE_FUNCS:
        return IN_USE
    if code:
        if _CONNECT_CODE.search(code):
            return CONNECT
        if _USE_CODE.search(code):
            return IN_USE
    return None


def raised_in(text: str) -> str:
    """connect | in-use | unknown, for a normalised paste.

    Each pattern runs only when the words it needs are there (a log line is mostly none of them);
    a text that is not ASCII always runs the case-insensitive one, whose folding goes beyond lower()."""
    ascii_only = text.isascii()
    if (not ascii_only or "to server" in text.lower()) and _LIBPQ_CONNECTING.search(text):
        return CONNECT
    if not ascii_only:  # libpq in the client's language (translations.json)
        from neondoctor.triage.translations import connect_prefixes

        if any(p.search(text) for p in connect_prefixes()):
            return CONNECT
    first = _CHAINED.split(text, maxsplit=1)[0] if "above exception" in text else text
    kinds = [_kind(m["func"], m["code"]) for m in _PY_FRAME.finditer(first)] if 'File "' in first else []
    if not kinds and "at " in first:  # JVM, .NET, node: innermost frame first
        kinds = [_kind(m["func"]) for m in _AT_FRAME.finditer(first)][::-1]
    known = [k for k in kinds if k]
    if known:
        return known[-1]
    if "[SQL: " in text and _SQL_SECTION.search(text):
        return IN_USE
    return UNKNOWN
