"""Pure renderers for `pool-stats --check` (a plugin line) and `pool-stats serve` (Prometheus text)."""

from __future__ import annotations

from neondoctor.pool_stats.check import CheckResult, Perf
from neondoctor.pool_stats.model import Snapshot


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) and not value.is_integer() else str(int(value))


def _perf(p: Perf) -> str:
    label = p.label if p.label.replace("_", "").isalnum() else f"'{p.label}'"
    return f"{label}={_num(p.value)};{_num(p.warn)};{_num(p.crit)};{_num(p.min)};{_num(p.max)}"


def check_text(result: CheckResult, *, colour: bool = False) -> str:
    """`POOL OK - 12/97 slots (12%) | used=12;68;88;0;97 ...` (the plugin output format)."""
    line = f"POOL {result.name} - {result.summary.replace('|', '/')}"
    if result.perfdata:
        line += " | " + " ".join(_perf(p) for p in result.perfdata)
    return line


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


STATE_LABEL = {"active": "active", "idle": "idle", "idle in transaction": "idle_in_transaction",
               "idle in transaction (aborted)": "idle_in_transaction_aborted", "hidden": "hidden"}


def prometheus_text(snap: Snapshot | None, *, pooler_waiting: int | None, scrape_seconds: float,
                      error: str | None = None) -> str:
    """The current slot arithmetic in the Prometheus text exposition format (version 0.0.4)."""
    out: list[str] = []

    def metric(name: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} gauge")
        for labels, value in samples:
            lab = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            out.append(f"{name}{{{lab}}} {_num(float(value)) or 0}" if lab else f"{name} {_num(float(value)) or 0}")

    metric("neondoctor_server_up", "1 if the last scrape could sample the server, 0 if not.", [({}, 0 if snap is None else 1)])
    metric("neondoctor_server_scrape_duration_seconds", "Time the sample took.", [({}, round(scrape_seconds, 6))])
    if snap is not None:
        s = snap.server
        metric("neondoctor_server_connections_in_use", "Client backends holding a slot (neondoctor's own excluded).",
               [({}, s.in_use)])
        metric("neondoctor_server_connections_available",
               "Slots ordinary roles may use: max_connections minus the reserved slots.", [({}, s.available)])
        metric("neondoctor_server_connections_max", "max_connections.", [({}, s.max_connections)])
        metric("neondoctor_server_connections_reserved", "Slots reserved, by setting.",
               [({"kind": "superuser_reserved_connections"}, s.superuser_reserved_connections),
                ({"kind": "reserved_connections"}, s.reserved_connections or 0)])
        metric("neondoctor_server_connections_free", "Slots an ordinary role may still take.", [({}, s.free)])
        metric("neondoctor_server_connections_by_state", "Client backends by state.",
               [({"state": STATE_LABEL.get(k, k.replace(" ", "_"))}, v) for k, v in sorted(snap.by_state.items())])
        for dim, label, groups in (("application", "application", snap.by_application),
                                   ("user", "user", snap.by_user)):
            rows: list[tuple[dict[str, str], float]] = []
            for g in groups:
                other = g.connections - g.active - g.idle - g.idle_in_transaction - g.hidden
                for state, value in (("active", g.active), ("idle", g.idle), ("idle_in_transaction", g.idle_in_transaction),
                                     ("hidden", g.hidden), ("other", other)):
                    rows.append(({label: g.key, "state": state}, value))
            metric(f"neondoctor_server_connections_by_{dim}", f"Client backends by {dim} and state.", rows)
        metric("neondoctor_server_idle_in_transaction_max_age_seconds",
               "Longest idle-in-transaction session per application (absent when none).",
               [({"application": g.key}, g.longest_idle_in_transaction_s) for g in snap.by_application
                if g.longest_idle_in_transaction_s is not None])
    if pooler_waiting is not None:
        metric("neondoctor_server_pooler_waiting_clients", "PgBouncer clients waiting for a server connection.",
               [({}, pooler_waiting)])
    if error:
        out.append(f"# neondoctor: {error.splitlines()[0] if error else ''}")
    return "\n".join(out) + "\n"
