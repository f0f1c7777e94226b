"""server_timeouts: server settings that close idle sessions (lab PostgreSQL; `options` sets them per session)."""

from __future__ import annotations

from neondoctor.lab.cluster import LabCluster
from neondoctor.triage.probes.server_timeouts import PROBE

from .kit import closed_port, context, expect


def _url(lab: LabCluster, options: str) -> str:
    return lab.app_url(query={"connect_timeout": "5", "options": options})


def test_a_timeout_that_closes_idle_sessions_is_confirmed(lab_primary: LabCluster) -> None:
    ctx = context(_url(lab_primary, "-c idle_session_timeout=7s -c idle_in_transaction_session_timeout=0"))
    expect(PROBE.run(ctx, {}), "confirmed", "the server closes idle sessions: idle_session_timeout = 7s",
           "idle_in_transaction_session_timeout = 0")
    # asked about the other setting only, the same session is ruled out
    expect(PROBE.run(ctx, {"setting": "idle_in_transaction_session_timeout"}), "ruled_out",
           "no server idle timeout is set: idle_in_transaction_session_timeout = 0")


def test_no_timeout_is_ruled_out(lab_primary: LabCluster) -> None:
    evidence = expect(PROBE.run(context(_url(lab_primary, "-c idle_session_timeout=0")), {}), "ruled_out",
                      "no server idle timeout is set")
    assert "idle_session_timeout = 0" in evidence


def test_no_server_is_inconclusive() -> None:
    expect(PROBE.run(context(f"postgresql://app@127.0.0.1:{closed_port()}/app?connect_timeout=3"), {}),
           "inconclusive", "could not connect to read settings")
