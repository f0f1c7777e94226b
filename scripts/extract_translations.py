#!/usr/bin/env python3
"""Extract PostgreSQL's own translations of the messages the runbooks match.

PostgreSQL translates its server messages (lc_messages) and libpq its client ones (the client's
locale); the catalogs ship with PostgreSQL (Debian: postgresql-NN -> postgres-NN.mo, libpq5 ->
libpq5-NN.mo under /usr/share/locale/<lang>/LC_MESSAGES/). MSGIDS below is the explicit map from a
shipped condition (`runbook-id/condition-name`) to the exact msgid(s) behind its English literal.
The result, neondoctor/triage/translations.json, is committed; regenerate it with:

    python scripts/extract_translations.py [--locale-dir /usr/share/locale] [--major 15]

and review the diff. Only catalogs' own strings are written (untranslated entries are skipped).
Each condition keeps its `msgids` ([catalog, msgid]) and its `translations`, one per line:
[language, index into msgids, msgstr, regex, pre-filter literal] (regex and literal as computed by
neondoctor.triage.translations.pattern_and_literal, so start-up does not recompute them).
"""

from __future__ import annotations

import argparse
import gettext
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "neondoctor" / "triage" / "translations.json"
SERVER, LIBPQ = "postgres", "libpq5"
CLOSED = "server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n" \
         "\tbefore or while processing the request.\n"
AUTH = ["Peer", "Ident", "LDAP", "RADIUS", "GSSAPI", "SSPI", "PAM", "BSD", "certificate"]

MSGIDS: dict[str, list[tuple[str, str]]] = {
    "auth-failure/password-authentication-failed": [(SERVER, 'password authentication failed for user "%s"')],
    "auth-failure/no-pg-hba-entry": [(SERVER, 'no pg_hba.conf entry for host "%s", user "%s", database "%s", %s')],
    "auth-failure/pg-hba-rejects": [(SERVER, 'pg_hba.conf rejects connection for host "%s", user "%s", database "%s", %s')],
    "auth-failure/role-does-not-exist": [(SERVER, 'role "%s" does not exist')],
    "auth-failure/other-auth-method-failed": [(SERVER, f'{m} authentication failed for user "%s"') for m in AUTH],
    "auth-failure/role-cannot-login": [(SERVER, 'role "%s" is not permitted to log in')],
    "auth-failure/channel-binding-not-offered": [
        (LIBPQ, "channel binding is required, but server did not offer an authentication method that supports "
                "channel binding\n"),
        (LIBPQ, "channel binding required but not supported by server's authentication request\n"),
        (LIBPQ, "channel binding required, but server authenticated client without channel binding\n")],
    "auth-failure/scram-channel-binding-failed": [(SERVER, "SCRAM channel binding check failed")],
    "slot-exhaustion/too-many-clients": [(SERVER, "sorry, too many clients already")],
    "slot-exhaustion/remaining-slots-reserved": [
        (SERVER, "remaining connection slots are reserved for non-replication superuser connections")],
    "slot-exhaustion/too-many-connections-for-role": [(SERVER, 'too many connections for role "%s"'),
                                                      (SERVER, 'too many connections for database "%s"')],
    "connect-failure/closed-at-connect": [(LIBPQ, CLOSED), (LIBPQ, "SSL connection has been closed unexpectedly\n"),
                                          (LIBPQ, "SSL SYSCALL error: EOF detected\n")],
    "connect-failure/could-not-translate-host": [(LIBPQ, 'could not translate host name "%s" to address: %s\n')],
    "connect-failure/timeout-expired": [(LIBPQ, "timeout expired\n")],
    "connect-failure/ssl-required-not-supported": [(LIBPQ, "server does not support SSL, but SSL was required\n")],
    "connect-failure/channel-binding-no-ssl": [(LIBPQ, "channel binding required, but SSL not in use\n")],
    "connect-failure/root-certificate-missing": [
        (LIBPQ, 'root certificate file "%s" does not exist\nEither provide the file or change sslmode to disable '
                "server certificate verification.\n")],
    "connect-failure/database-does-not-exist": [(SERVER, 'database "%s" does not exist')],
    "connect-failure/could-not-connect-to-server": [
        (LIBPQ, "\tIs the server running on that host and accepting TCP/IP connections?\n"),
        (LIBPQ, "\tIs the server running locally and accepting connections on that socket?\n")],
    "connect-failure/asyncpg-cannot-connect-now": [
        (SERVER, f"the database system is {state}") for state in
        ("starting up", "shutting down", "in recovery mode", "not accepting connections", "not yet accepting connections")],
    "connect-failure/bad-connection-option": [(LIBPQ, 'invalid connection option "%s"\n'),
                                              (LIBPQ, 'invalid integer value "%s" for connection option "%s"\n')],
    "missing-driver/libpq-without-ssl": [(LIBPQ, 'sslmode value "%s" invalid when SSL support is not compiled in\n')],
    "stale-connection/server-closed-unexpectedly": [(LIBPQ, CLOSED)],
    "stale-connection/terminating-admin-command": [(SERVER, "terminating connection due to administrator command")],
    "stale-connection/idle-session-timeout": [(SERVER, "terminating connection due to idle-session timeout")],
    "stale-connection/ssl-syscall-eof": [(LIBPQ, "SSL SYSCALL error: EOF detected\n")],
    "stale-connection/ssl-closed-unexpectedly": [(LIBPQ, "SSL connection has been closed unexpectedly\n")],
    "stale-connection/connection-already-closed": [(LIBPQ, "could not receive data from server: %s\n"),
                                                   (LIBPQ, "could not send data to server: %s\n")],
    "stale-connection/terminating-connection-other": [
        (SERVER, "terminating connection because of crash of another server process"),
        (SERVER, "terminating connection due to conflict with recovery"),
        (SERVER, "terminating connection due to unexpected postmaster exit"),
        (SERVER, "terminating connection due to immediate shutdown command")],
    "stale-connection/psycopg3-connection-closed": [
        (LIBPQ, 'lost synchronization with server: got message type "%c", length %d\n')],
}


# libpq's own prefix for a connection it is opening: read (translated) for where the error was raised
# and for the error's own target. Each placeholder becomes the named group given here, in order.
PREFIXES: list[tuple[str, tuple[str, ...]]] = [
    ('connection to server at "%s" (%s), port %s failed: ', ("host", "addr", "port")),
    ('connection to server at "%s", port %s failed: ', ("host", "port")),
    ('connection to server on socket "%s" failed: ', ("socket",)),
]


def catalogs(locale_dir: Path, major: int) -> dict[str, dict[str, gettext.GNUTranslations]]:
    """{catalog: {lang: translations}} for every language that ships the catalog."""
    out: dict[str, dict[str, gettext.GNUTranslations]] = {SERVER: {}, LIBPQ: {}}
    for catalog in out:
        for mo in sorted(locale_dir.glob(f"*/LC_MESSAGES/{catalog}-{major}.mo")):
            with open(mo, "rb") as fh:
                out[catalog][mo.parts[-3]] = gettext.GNUTranslations(fh)
    return out


def package_version(major: int) -> str | None:
    try:
        done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", f"postgresql-{major}"], capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


sys.path.insert(0, str(REPO))
from neondoctor.triage.translations import (  # noqa: E402  (the repo's own code)
    MIN_LITERAL,
    candidate_literals,
    pattern_and_literal,
    prefix_pattern,
    weight,
)


def check_keys() -> list[str]:
    """Every key must name a shipped condition: a renamed condition must not silently lose its translations."""
    from neondoctor.triage.runbook import load_runbooks

    known = {f"{b.id}/{c.name}" for b in load_runbooks() for c in b.conditions}
    return [key for key in MSGIDS if key not in known]


def share_literals(conditions: dict[str, dict[str, list[Any]]]) -> None:
    """Pick each translation's pre-filter literal so that few distinct ones cover them all.

    A log scanner looks for every literal in every line: 400 distinct words cost far more than 150.
    So among a message's words, prefer one its language's other messages share (German `Verbindung`),
    and never an English word (Italian `database`, Korean `password`): English logs would then offer
    every line that says "database" as a candidate.
    """
    english = {w.lower() for entries in MSGIDS.values() for _, msgid in entries for w in msgid.split()}
    rows = [row for entry in conditions.values() for row in entry["translations"]]
    freq: dict[tuple[str, str], int] = {}
    for row in rows:
        for word in set(candidate_literals(row[2])):
            freq[(row[0], word)] = freq.get((row[0], word), 0) + 1
    for row in rows:
        words = [w for w in candidate_literals(row[2]) if w not in english]
        if words:
            row[4] = max(words, key=lambda w: (freq[(row[0], w)], weight(w)))


def dump(data: dict[str, Any]) -> str:
    """JSON with one translation per line: small to load at start-up, readable in a diff."""
    line = lambda value: json.dumps(value, ensure_ascii=False, separators=(",", ":"))  # noqa: E731
    head = {k: v for k, v in data.items() if k not in ("conditions", "connect_prefixes")}
    out = ["{"] + [f" {line(k)}:{line(v)}," for k, v in head.items()]
    out += [' "connect_prefixes":[', ",\n".join(f"  {line(p)}" for p in data["connect_prefixes"]), " ],"]
    out += [' "conditions":{']
    items = list(data["conditions"].items())
    for i, (key, entry) in enumerate(items):
        rows = ",\n".join(f"   {line(t)}" for t in entry["translations"])
        out.append(f"  {line(key)}:{{\"msgids\":{line(entry['msgids'])},\"translations\":[\n{rows}\n  ]}}"
                   + ("," if i < len(items) - 1 else ""))
    out += [" }", "}"]
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--locale-dir", type=Path, default=Path("/usr/share/locale"))
    parser.add_argument("--major", type=int, default=15, help="PostgreSQL major version of the catalogs")
    parser.add_argument("--output", type=Path, default=OUT)
    args = parser.parse_args()
    if unknown := check_keys():
        print(f"MSGIDS names conditions no runbook has: {', '.join(unknown)}", file=sys.stderr)
        return 2
    cats = catalogs(args.locale_dir, args.major)
    if not cats[SERVER] and not cats[LIBPQ]:
        print(f"no {SERVER}-{args.major}.mo or {LIBPQ}-{args.major}.mo under {args.locale_dir} "
              f"(Debian: apt-get install postgresql-{args.major} libpq5)", file=sys.stderr)
        return 2
    conditions: dict[str, dict[str, list[Any]]] = {}
    missing: list[str] = []
    for key, entries in MSGIDS.items():
        found: list[list[Any]] = []
        for index, (catalog, msgid) in enumerate(entries):
            langs = cats[catalog]
            hits = 0
            for lang, trans in sorted(langs.items()):
                msgstr = trans.gettext(msgid)
                if msgstr != msgid:  # gettext returns the msgid itself when the catalog lacks it
                    hits += 1
                    made = pattern_and_literal(msgstr)
                    if made is None:  # too short to match safely (reported, not written)
                        print(f"skipped ({lang}) {msgstr!r}: no word of {MIN_LITERAL}+ characters", file=sys.stderr)
                        continue
                    found.append([lang, index, msgstr, made[0], made[1]])
            if langs and not hits:
                missing.append(f"{key}: {msgid!r}")
        conditions[key] = {"msgids": [list(e) for e in entries], "translations": found}
    share_literals(conditions)
    prefixes: list[list[str]] = []
    for msgid, groups in PREFIXES:
        for lang, trans in sorted(cats[LIBPQ].items()):
            msgstr = trans.gettext(msgid)
            regex = prefix_pattern(msgstr, groups) if msgstr != msgid else None
            if regex:
                prefixes.append([lang, msgstr, regex])
    if missing:  # a msgid that no catalog knows is a typo in MSGIDS (or a message reworded upstream)
        print("msgids found in no catalog:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 2
    header = next(iter(cats[SERVER].values()), None) or next(iter(cats[LIBPQ].values()))
    data = {
        "generated_by": "scripts/extract_translations.py",
        "postgresql_major": args.major,
        "postgresql_package": package_version(args.major),
        "project_id_version": header.info().get("project-id-version"),
        "catalogs": {c: sorted(langs) for c, langs in cats.items()},
        "languages": sorted({lang for langs in cats.values() for lang in langs}),
        "connect_prefixes": prefixes,
        "conditions": conditions,
    }
    args.output.write_text(dump(data), encoding="utf-8")
    total = sum(len(v["translations"]) for v in conditions.values())
    print(f"{total} translations of {len(MSGIDS)} conditions in {len(data['languages'])} languages -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
