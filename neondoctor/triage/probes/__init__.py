"""Probes: one small module each, registered here by id. Runbook steps name them.

Each probe is bounded in time, read-only, and opens at most one connection (via neondoctor.connect).
Heavy modules (psycopg2, sqlalchemy) are imported inside the probe functions only.
"""

from __future__ import annotations

from neondoctor.errors import ConfigError
from neondoctor.triage.probes import (
    app_settings,
    auth,
    database,
    dns,
    driver,
    engine,
    env,
    idle_in_transaction,
    idle_sessions,
    libpq,
    manual,
    pooler,
    server_login,
    server_timeouts,
    slots,
    tcp,
    tls,
    url,
)
from neondoctor.triage.probes.base import Probe

PROBES: dict[str, Probe] = {
    "env": env.PROBE,
    "url": url.PROBE,
    "driver": driver.PROBE,
    "dns": dns.PROBE,
    "tcp": tcp.PROBE,
    "tls": tls.PROBE,
    "auth": auth.PROBE,
    "database": database.PROBE,
    "slots": slots.PROBE,
    "idle_sessions": idle_sessions.PROBE,
    "server_timeouts": server_timeouts.PROBE,
    "libpq": libpq.PROBE,
    "engine": engine.PROBE,
    "manual": manual.PROBE,
    "pooler": pooler.PROBE,
    "app_settings": app_settings.PROBE,
    "idle_in_transaction": idle_in_transaction.PROBE,
    "server_login": server_login.PROBE,
}
# probes/target.py is not listed: the walk itself runs it first, whatever the runbook.


def get_probe(probe_id: str) -> Probe:
    try:
        return PROBES[probe_id]
    except KeyError:
        raise ConfigError(f"unknown probe {probe_id!r} (known: {', '.join(sorted(PROBES))})") from None
