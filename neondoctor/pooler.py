"""What neondoctor knows about transaction-mode poolers (Neon's PgBouncer first): one place for it.

Used by the URL audit, the triage probes, pool-stats and the lab, so a fact cannot disagree with
itself. Sources: Neon's connection-pooling page and PgBouncer's configuration docs and changelog
(see the README's "Neon's pooler" section).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote

from neondoctor.url import ParsedUrl

# Neon's pooler: PgBouncer in transaction mode. None of these can be changed by users.
NEON_POOLER = {
    "pool_mode": "transaction",
    "max_client_conn": 10000,
    "default_pool_size": "0.9 x max_connections, per user/database pair",
    "max_prepared_statements": 1000,
    "query_wait_timeout": 120,
}
PGBOUNCER_PORT = 6432
ADMIN_DATABASE = "pgbouncer"  # PgBouncer's admin console (SHOW POOLS, SHOW STATS, SHOW CONFIG)
SUPAVISOR_TRANSACTION_PORT = 6543
# Startup parameters a transaction-mode PgBouncer tracks per client (1.20+ also inside `options`);
# anything else in `options` fails with `unsupported startup parameter in options: ...`.
TRACKED_PARAMETERS = frozenset({"client_encoding", "datestyle", "timezone", "standard_conforming_strings",
                                "application_name"})
# `options=endpoint=<id>` is read by Neon's proxy (SNI workaround) before the pooler sees anything.
PROXY_OPTIONS = frozenset({"endpoint", "project"})
# Session features that a transaction-mode pooler cannot keep across transactions.
SESSION_FEATURES = ("SET / RESET (search_path, timezone, ...)", "LISTEN / NOTIFY", "session advisory locks",
                    "SQL-level PREPARE / DEALLOCATE", "temporary tables kept across transactions",
                    "WITH HOLD cursors")
DIRECT_URL_VARIABLES = ("DATABASE_URL_UNPOOLED", "DIRECT_URL", "DIRECT_DATABASE_URL")


@dataclass(frozen=True)
class PoolerGuess:
    """Whether a URL goes through a pooler, judged from the URL alone (no network)."""

    pooled: bool
    kind: str | None  # "neon" | "pgbouncer-port" | "supavisor-port" | None
    reason: str


def guess(parsed: ParsedUrl) -> PoolerGuess:
    host = (parsed.host or "").lower()
    if parsed.is_neon_pooler:
        return PoolerGuess(True, "neon", f"the host {host} is a Neon pooler endpoint (-pooler)")
    if parsed.port == PGBOUNCER_PORT:
        return PoolerGuess(True, "pgbouncer-port", f"port {PGBOUNCER_PORT} is PgBouncer's default")
    if parsed.port == SUPAVISOR_TRANSACTION_PORT:
        return PoolerGuess(True, "supavisor-port", f"port {SUPAVISOR_TRANSACTION_PORT} is Supavisor's transaction mode")
    return PoolerGuess(False, None, f"{host}:{parsed.port or 5432} does not look like a pooler endpoint")


def neon_direct_host(host: str) -> str | None:
    """ep-x-pooler.region.aws.neon.tech -> ep-x.region.aws.neon.tech (Neon's direct endpoint)."""
    first, _, rest = host.partition(".")
    if not first.endswith("-pooler"):
        return None
    return f"{first[: -len('-pooler')]}.{rest}" if rest else first[: -len("-pooler")]


def direct_url_from_env(environ: dict[str, str] | None = None) -> tuple[str, str] | None:
    """(variable, url) of the first direct (unpooled) URL set in the environment."""
    env = os.environ if environ is None else environ
    for name in DIRECT_URL_VARIABLES:
        if value := env.get(name, "").strip():
            return name, value
    return None


def options_parameters(options: str) -> list[tuple[str, str]]:
    """`-c name=value -c other=x` or `endpoint=ep-x` (as found in a URL's `options`) -> [(name, value)]."""
    text = unquote(options)
    out: list[tuple[str, str]] = []
    tokens = text.replace("--", " -c ").split()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "-c" and i + 1 < len(tokens):
            token = tokens[i + 1]
            i += 1
        elif token.startswith("-c"):
            token = token[2:]
        if "=" in token:
            name, _, value = token.partition("=")
            # no '-' to '_' folding: PgBouncer compares names as sent (Neon refuses `client-encoding`)
            out.append((name.strip().lower(), value))
        i += 1
    return out


def untracked_startup_parameters(parsed: ParsedUrl) -> list[str]:
    """Parameters in the URL's `options` that a transaction-mode pooler refuses (proxy ones excluded)."""
    options = parsed.query.get("options")
    if not options:
        return []
    return [f"{name}={value}" for name, value in options_parameters(options)
            if name not in TRACKED_PARAMETERS and name not in PROXY_OPTIONS]
