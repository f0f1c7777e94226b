"""Does the URL go through a transaction-mode pooler, and what does that pooler allow?

The URL tells first (a Neon `-pooler` host, port 6432 or 6543). Then one bounded connection to the
`pgbouncer` admin database with the URL's own credentials tells PgBouncer from PostgreSQL for
certain: PgBouncer answers `not allowed` to a non-admin user (or opens its console to an admin,
where SHOW VERSION and SHOW CONFIG give its version and limits), PostgreSQL says the database does
not exist. Nothing is written; the console's SHOW commands only read.

check=pooled               confirmed when the URL goes through a pooler
check=prepared_statements  confirmed when it does and the pooler keeps no protocol-level prepared
                           statements across transactions (PgBouncer < 1.21 or max_prepared_statements=0)
check=client_limit         confirmed when the pooler itself refuses new clients (max_client_conn)
"""

from __future__ import annotations

import dataclasses
from typing import Any

from neondoctor import pooler
from neondoctor.triage.probes.base import Param, Probe, ProbeContext, ProbeResult, first_line, need_url

CHECKS = ("pooled", "prepared_statements", "client_limit")


@dataclasses.dataclass
class Sighting:
    """What one look at the pooler found."""

    pgbouncer: bool | None = None  # None: could not tell
    version: str | None = None
    config: dict[str, str] = dataclasses.field(default_factory=dict)
    client_limit_hit: bool = False
    evidence: str = ""


def look(ctx: ProbeContext, *, database: str = pooler.ADMIN_DATABASE) -> Sighting:
    """One bounded connection to the `pgbouncer` admin database of the URL's host and port (or, to test
    the client limit, which PgBouncer does not apply to its console, to the URL's own database)."""
    import psycopg2

    from neondoctor import drivers
    from neondoctor.connect import APPLICATION_NAME

    assert ctx.parsed is not None
    target = dataclasses.replace(ctx.parsed, database=database, query={
        k: v for k, v in ctx.parsed.query.items() if k not in ("options", "dbname")})
    try:
        # psycopg2 always: PgBouncer's console knows only libpq's simple query protocol.
        conn = psycopg2.connect(**drivers.connect_params(target, "psycopg2", timeout=ctx.timeout,
                                                         application_name=APPLICATION_NAME))
    except Exception as exc:
        text = str(exc)
        if "max_client_conn" in text:
            return Sighting(True, client_limit_hit=True,
                            evidence="a new connection to the pooler is refused: no more connections allowed (max_client_conn)")
        if "not allowed" in text:
            return Sighting(True, evidence="the admin database `pgbouncer` answers `not allowed`: this is PgBouncer")
        if f'database "{pooler.ADMIN_DATABASE}" does not exist' in text:
            return Sighting(False, evidence="the server says database \"pgbouncer\" does not exist: this is PostgreSQL, not PgBouncer")
        return Sighting(None, evidence=f"could not ask the pooler: {first_line(exc)}")
    if database != pooler.ADMIN_DATABASE:
        conn.close()
        return Sighting(None, evidence=f"a new connection to database {database} is accepted")
    try:
        conn.autocommit = True  # the admin console has no transactions
        with conn.cursor() as cur:
            cur.execute("SHOW VERSION")
            version = str(cur.fetchone()[0])
            cur.execute("SHOW CONFIG")
            config = {str(row[0]): str(row[1]) for row in cur.fetchall()}
    except Exception as exc:
        return Sighting(True, evidence=f"PgBouncer's admin console is reachable but did not answer: {first_line(exc)}")
    finally:
        conn.close()
    return Sighting(True, version.replace("PgBouncer ", ""), config, evidence=f"PgBouncer admin console: {version}")


def supports_prepared(sighting: Sighting) -> tuple[bool | None, str]:
    if "max_prepared_statements" in sighting.config:
        value = sighting.config["max_prepared_statements"]
        return value not in ("0", ""), f"max_prepared_statements = {value}"
    if sighting.version:
        parts = tuple(int(p) for p in sighting.version.split(".")[:2] if p.isdigit())
        if parts and parts < (1, 21):
            return False, f"PgBouncer {sighting.version} predates max_prepared_statements (1.21)"
    return None, "the pooler's prepared-statement support could not be read (admin console not open to this role)"


def run(ctx: ProbeContext, params: dict[str, Any]) -> ProbeResult:
    if (missing := need_url(ctx)) is not None:
        return missing
    assert ctx.parsed is not None
    check = params.get("check", "pooled")
    guess = pooler.guess(ctx.parsed)
    if check == "pooled" and guess.kind == "neon":
        return ProbeResult.confirmed(f"{guess.reason}: PgBouncer in transaction mode "
                                     f"(max_client_conn {pooler.NEON_POOLER['max_client_conn']}, "
                                     f"default_pool_size {pooler.NEON_POOLER['default_pool_size']})")
    if check == "client_limit" and (first := look(ctx, database=ctx.parsed.database or "postgres")).client_limit_hit:
        return ProbeResult.confirmed(f"{first.evidence}: the pooler's own client limit, not the server's slots")
    seen = look(ctx)
    pooled = seen.pgbouncer if seen.pgbouncer is not None else (guess.pooled or None)
    evidence = "; ".join(filter(None, [guess.reason if guess.pooled else "", seen.evidence]))
    if check == "client_limit":
        if seen.client_limit_hit:
            return ProbeResult.confirmed(f"{evidence}: the pooler's own client limit, not the server's slots")
        if pooled is False:
            return ProbeResult.ruled_out(evidence)
        limit = seen.config.get("max_client_conn")
        return ProbeResult.ruled_out(f"{evidence}; the pooler accepts new clients now"
                                     + (f" (max_client_conn = {limit})" if limit else ""))
    if pooled is None:
        return ProbeResult.inconclusive(evidence)
    if not pooled:
        return ProbeResult.ruled_out(f"the URL connects to the server directly: {evidence}")
    if check == "pooled":
        mode = seen.config.get("pool_mode")
        return ProbeResult.confirmed(evidence + (f"; pool_mode = {mode}" if mode else ""))
    if guess.kind == "neon" and not seen.config:
        return ProbeResult.ruled_out(f"{guess.reason}: Neon's pooler keeps protocol-level prepared statements "
                                     f"(max_prepared_statements {pooler.NEON_POOLER['max_prepared_statements']}); "
                                     "SQL-level PREPARE still fails there")
    supported, why = supports_prepared(seen)
    if supported is None:
        return ProbeResult.inconclusive(f"{evidence}; {why}")
    if supported:
        return ProbeResult.ruled_out(f"{evidence}; {why}: protocol-level prepared statements survive transactions")
    return ProbeResult.confirmed(f"{evidence}; {why}: a named prepared statement lives on one server connection "
                                 "and the next transaction may run on another")


PROBE = Probe(id="pooler", summary="whether the URL goes through a transaction-mode pooler, and its limits", run=run,
              params={"check": Param(str, CHECKS, help="what to look for (default pooled)")})
