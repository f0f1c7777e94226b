"""Server settings that close idle sessions: idle_session_timeout, idle_in_transaction_session_timeout."""

from __future__ import annotations

from typing import Any

from neondoctor.triage.probes.base import (
    Param,
    Probe,
    ProbeContext,
    ProbeResult,
    attempt_connect,
    close_quietly,
    first_line,
    server_side,
    session_setting,
)

SETTINGS = ("idle_session_timeout", "idle_in_transaction_session_timeout")


def run(ctx: ProbeContext, params: dict[str, Any]) -> ProbeResult:
    names = [params["setting"]] if "setting" in params else list(SETTINGS)
    conn, exc, why = attempt_connect(server_side(ctx))
    if why:
        return ProbeResult.inconclusive(why)
    if conn is None:
        return ProbeResult.inconclusive(f"could not connect to read settings: {first_line(exc or Exception())}")
    values: dict[str, str | None] = {}
    try:
        for name in names:
            values[name] = session_setting(conn, name)
    except Exception as exc2:
        return ProbeResult.inconclusive(f"could not read settings: {first_line(exc2)}")
    finally:
        close_quietly(conn)
    shown = ", ".join(f"{k} = {v if v is not None else 'n/a (server too old)'}" for k, v in values.items())
    active = [k for k, v in values.items() if v not in (None, "0", "0ms", "")]
    if active:
        return ProbeResult.confirmed(f"the server closes idle sessions: {shown}")
    return ProbeResult.ruled_out(f"no server idle timeout is set: {shown}")


PROBE = Probe(id="server_timeouts", summary="server idle-session timeouts", run=run,
              params={"setting": Param(str, SETTINGS, help="read only this one (default both)")})
