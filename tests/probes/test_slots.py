"""slots: server slot usage against what non-superusers may use (lab PostgreSQL, max_connections 60)."""

from __future__ import annotations

import secrets

from neondoctor.lab.cluster import LabCluster
from neondoctor.triage.probes.slots import PROBE

from .kit import closed_port, context, expect


def test_usage_against_the_threshold(lab_primary: LabCluster) -> None:
    ctx = context(lab_primary.app_url())
    expect(PROBE.run(ctx, {"threshold_pct": 100}), "ruled_out", "non-superuser slots in use",
           "max_connections 60 - superuser_reserved_connections 3")
    # at 0 % any use (this probe's own session at least) reaches the threshold
    expect(PROBE.run(ctx, {"threshold_pct": 0}), "confirmed", "of 57 non-superuser slots in use")


def test_a_role_at_its_connection_limit_is_confirmed(lab_primary: LabCluster) -> None:
    name = f"probe_limit_{secrets.token_hex(3)}"
    password = lab_primary.create_role(name, options="CONNECTION LIMIT 1")
    url = lab_primary.app_url(user=name, password=password)
    # the probe's own session is the one allowed: the limit is reached
    expect(PROBE.run(context(url), {}), "confirmed", "role connection limit reached: 1 of 1")
    lab_primary.execute(f"ALTER ROLE {name} CONNECTION LIMIT 0")
    expect(PROBE.run(context(url), {}), "confirmed", "a new connection is refused for lack of slots",
           f'too many connections for role "{name}"')


def test_no_server_is_inconclusive() -> None:
    expect(PROBE.run(context(f"postgresql://app@127.0.0.1:{closed_port()}/app?connect_timeout=3"), {}),
           "inconclusive", "could not connect to count slots")
