"""`pool-stats report --html`: one self-contained page, charts of usage against the limits, advice beside.

Charts are drawn by plotly (optional extra `neondoctor[charts]`), with plotly.js inlined once in the
page: it opens from a file, offline, and its charts can be zoomed to a minute of a day. Leak episodes
are shaded red, gaps grey (a gap also breaks the lines). Pure: evidence in, HTML text out.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from neondoctor.errors import ConfigError
from neondoctor.pool_stats.evidence import Evidence
from neondoctor.pool_stats.sizing import PoolAdvice, Recommendation
from neondoctor.render.pool_stats_report import span, to_text, when

CSS = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
h1{font-size:1.3rem}h2{font-size:1.1rem;margin-top:2rem}
.row{display:grid;grid-template-columns:minmax(0,3fr) minmax(240px,1fr);gap:1.5rem;align-items:start}
.chart{min-width:0}.advice{font-size:.9rem}
.advice li{margin-bottom:.4rem}.leak{color:#b00020}pre{background:#f6f6f6;padding:.8rem;white-space:pre-wrap;font-size:.8rem}
"""


def _plotly() -> Any:
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise ConfigError("--html needs the charts extra: pip install 'neondoctor[charts]'") from None
    return go


def _x(ts: list[float | None]) -> list[str | None]:
    return [None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds") for t in ts]


def _shade(fig: Any, start: float, end: float, color: str, label: str) -> None:
    fig.add_vrect(x0=_x([start])[0], x1=_x([end])[0], fillcolor=color, opacity=0.18, line_width=0,
                  annotation_text=label, annotation_position="top left")


def _figure(go: Any, ev: Evidence, title: str, lines: list[tuple[str, list[Any], dict[str, Any]]],
            app: str | None) -> Any:
    fig = go.Figure()
    x = _x(ev.series.t)
    for name, values, style in lines:
        fig.add_trace(go.Scatter(x=x, y=values, name=name, mode="lines", connectgaps=False, **style))
    for g in ev.gaps:
        _shade(fig, g.start, max(g.end, g.start + ev.interval_s), "#888888", g.kind)
    for e in ev.episodes:
        if app is None or e.application == app:
            _shade(fig, e.start, e.end, "#d62728", f"leak: {e.application}" if app is None else "leak")
    fig.update_layout(title=title, height=340, margin={"l": 50, "r": 20, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.2}, yaxis={"title": "connections", "rangemode": "tozero"})
    return fig


def _advice(ev: Evidence, recs: list[Recommendation], app: str | None) -> str:
    items: list[str] = []
    for r in recs:
        if app is None or r.application == app:
            why = "".join(f"<li>{html.escape(x)}</li>" for x in r.reasons)
            items.append(f"<p><b>{html.escape(r.application)}</b>: pool_size={r.pool_size}, "
                         f"max_overflow={r.max_overflow} per process (worst case {r.worst_case} of "
                         f"{r.budget} slots)</p><ul>{why}</ul>")
    for e in ev.episodes:
        if app is None or e.application == app:
            items.append(f"<p class='leak'>Leak episode {html.escape(e.application)}: {when(e.start)} .. "
                         f"{when(e.end)} ({span(e.end - e.start)}), held {e.held_from} → {e.held_to}, "
                         f"idle in transaction {e.idle_in_transaction_from} → {e.idle_in_transaction_to}</p>")
    return "".join(items) or "<p>No advice for this chart.</p>"


def to_html(advice: PoolAdvice) -> str:
    ev, recs = advice.evidence, advice.recommendations
    go = _plotly()
    sections: list[str] = []
    figures = [(
        "All sessions against the slots", None,
        [("in use", ev.series.in_use, {"line": {"color": "#1f77b4"}}),
         ("available to ordinary roles", ev.series.available, {"line": {"color": "#d62728", "dash": "dash"}})],
    )]
    for u in ev.applications:
        s = ev.series.apps[u.name]
        figures.append((f"{u.name}: peak {u.peak}, p95 {u.p95}, p99 {u.p99}", u.name, [
            ("connections", s["connections"], {"line": {"color": "#1f77b4"}}),
            ("busy (active + idle in tx)", s["busy"], {"line": {"color": "#2ca02c"}}),
            ("idle in transaction", s["idle_in_transaction"], {"line": {"color": "#ff7f0e"}}),
            ("available to ordinary roles", ev.series.available, {"line": {"color": "#d62728", "dash": "dash"}}),
        ]))
    for i, (title, app, lines) in enumerate(figures):
        fig = _figure(go, ev, title, lines, app)
        div = fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"chart-{i}",
                          config={"displaylogo": False, "responsive": True})
        sections.append(f"<h2>{html.escape(title)}</h2><div class='row'><div class='chart'>{div}</div>"
                        f"<div class='advice'>{_advice(ev, recs, app)}</div></div>")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>pool-stats report {html.escape(ev.target)}</title><style>{CSS}</style></head><body>"
        f"<h1>pool-stats report: {html.escape(ev.target)}</h1>"
        + "".join(sections)
        + f"<h2>The evidence as text</h2><pre>{html.escape(to_text(advice))}</pre></body></html>"
    )
