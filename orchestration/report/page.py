"""The report page: ReportData -> one self-contained HTML document (inline CSS and SVG, no scripts, no links)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from orchestration.report import charts
from orchestration.report.queries import ReportData, session_cost_bins

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:980px;
color:#1f2933;padding:0 16px}
h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin:32px 0 6px;border-bottom:1px solid #d9dee3}
.sub{color:#52606d;margin-top:0}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{border:1px solid #d9dee3;border-radius:6px;padding:10px 14px;min-width:130px}
.card b{display:block;font-size:20px}.card span{color:#52606d;font-size:12px}
figure{margin:12px 0}figcaption{color:#52606d;font-size:13px;margin-top:4px;max-width:760px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #d9dee3;padding:4px 8px;
text-align:left}th{background:#f5f7fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.chart-title{font-size:15px;font-weight:600;fill:#1f2933}.tick{font-size:11px;fill:#52606d}
.axis-title{font-size:12px;fill:#1f2933}.legend{font-size:12px;fill:#1f2933}.value{font-size:10px;fill:#52606d}
.inbar{font-size:11px;fill:#fff}.grid{stroke:#e4e7eb}.axis{stroke:#9aa5b1}
.reference{stroke:#d64545;stroke-width:2;stroke-dasharray:6 4}.empty{font-size:14px;fill:#9aa5b1}
.bad{color:#b42318;font-weight:600}
"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td{" class=num" if i in numeric else ""}>{escape(str(v))}</td>'
                                    for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(svg: str, caption: str) -> str:
    return f'<figure class="chart">{svg}<figcaption>{escape(caption)}</figcaption></figure>'


def _pivot(rows: Sequence[tuple], x_index: int, series_index: int, value_index: int
           ) -> tuple[list[str], dict[str, list[Any]]]:
    xs = sorted({r[x_index] for r in rows})
    names = sorted({r[series_index] for r in rows})
    pos = {x: i for i, x in enumerate(xs)}
    series: dict[str, list[Any]] = {n: [None] * len(xs) for n in names}
    for r in rows:
        series[r[series_index]][pos[r[x_index]]] = r[value_index]
    return xs, series


def render(d: ReportData, generated_at: str, alerts: dict[str, int]) -> str:
    """The whole report as an HTML string."""
    h = d.headline
    period = f"{d.first_date} to {d.last_date}" if d.first_date else "no data yet"
    cards = [("interactions", f"{h.get('interactions', 0):,}"), ("cost", charts.money(h.get("cost_usd", 0))),
             ("sessions", f"{h.get('sessions', 0):,}"), ("over budget", f"{h.get('sessions_over_budget', 0):,}"),
             ("users", f"{h.get('users', 0):,}"), ("alerts fired", f"{sum(alerts.values()):,}")]
    parts = [f"<h1>AI Analytics Warehouse report</h1><p class=sub>Events {escape(period)} · generated "
             f"{escape(generated_at)} · from the marts in warehouse.duckdb</p>",
             '<div class="cards">' + "".join(f"<div class=card><b>{escape(v)}</b><span>{escape(k)}</span></div>"
                                            for k, v in cards) + "</div>"]

    days, by_model = _pivot(d.cost_by_day_model, 0, 1, 2)
    parts.append("<h2 id=cost>Cost</h2>")
    parts.append(_figure(charts.stacked_bars(
        "Cost per day by model (USD, warehouse price)", "cost_per_day", days,
        {m: [v or 0.0 for v in vs] for m, vs in by_model.items()}, "event date (UTC)", "cost (USD)", charts.money),
        "Each bar is one day's cost, split by model; the number on top is the day's total."))
    bins, hot = session_cost_bins(d.session_costs, d.session_budget)
    budget = charts.money(d.session_budget) if d.session_budget else "budget"
    parts.append(_figure(charts.histogram(
        "Cost per session (sessions per cost band)", "session_cost", bins, "session cost (USD, log-spaced bands)",
        "sessions", hot, f"over the {budget} budget"),
        f"Bands are log-spaced; red bands are at or over the session budget ({budget})."))
    parts.append("<h3>Most expensive sessions</h3>" + _table(
        ["session", "user", "calls", "cost (USD)", "over budget"],
        [(s, u, n, f"{c:.4f}", "yes" if o else "no") for s, u, n, c, o in d.top_sessions], {2, 3}))

    parts.append("<h2 id=latency>Latency</h2>")
    feats, p95 = _pivot(d.feature_daily, 1, 0, 2)
    slo = d.slo_ttft_ms
    parts.append(_figure(charts.lines(
        "Time to first token, daily p95 by feature, against the SLO", "ttft_p95", feats, p95, "event date (UTC)",
        "TTFT p95 (ms)", charts.ms, reference=(slo, f"SLO {slo:,.0f} ms") if slo else None),
        "Daily p95 over all models of a feature. The SLO is judged per feature, model and hour "
        "(mart_latency_slo); hours that breached it are listed below."))
    parts.append("<h3>SLO breaches (feature x model, hourly p95 over the SLO)</h3>" + (_table(
        ["feature", "model", "breached hours", "worst p95 (ms)", "first breached hour (UTC)"],
        [(f, m, n, f"{w:,.0f}", first) for f, m, n, w, first in d.slo_breaches], {2, 3})
        if d.slo_breaches else "<p>No hour breached the SLO.</p>"))

    parts.append("<h2 id=quality>Quality</h2>")
    _, quality = _pivot(d.feature_daily, 1, 0, 3)
    _, regen = _pivot(d.feature_daily, 1, 0, 4)
    parts.append(_figure(charts.lines(
        "Implicit quality by feature (daily average, 0-1)", "quality", feats, quality, "event date (UTC)",
        "avg implicit quality", charts.plain, y_max=1.0),
        "1.0 is a call nobody regenerated or edited, that was fast and not rambling (formula in docs/marts.md)."))
    parts.append(_figure(charts.lines(
        "Regeneration rate by feature (share of calls the user regenerated)", "regeneration", feats, regen,
        "event date (UTC)", "regeneration rate", charts.pct),
        "A rising line after a model change is the first sign users dislike the new output."))
    parts.append("<h3>Model versions that drifted</h3>" + (_table(
        ["model", "version", "first drift day", "days drifting", "calls on those days", "latest finding"],
        d.drift, {3, 4}) if d.drift else "<p>No model version drifted.</p>"))

    parts.append("<h2 id=routing>Routing</h2>")
    feats_r = sorted({f for f, _, _ in d.routing})
    totals = {f: sum(n for g, _, n in d.routing if g == f) for f in feats_r}
    strategies = sorted({s for _, s, _ in d.routing})
    shares = {s: [next((n for g, t, n in d.routing if g == f and t == s), 0) / (totals[f] or 1) for f in feats_r]
              for s in strategies}
    parts.append(_figure(charts.share_bars("Routing strategy share of calls by feature", "routing", feats_r, shares,
                                           "share of the feature's calls"),
                         "Fallback calls cost more; cache hits cost less (mart_routing has the premium and savings)."))
    if alerts:
        parts.append("<h2>Alerts</h2>" + _table(["kind", "alerts fired"], sorted(alerts.items()), {1}))
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width, initial-scale=1'>"
            f"<title>AI Analytics Warehouse report {escape(period)}</title><style>{CSS}</style></head><body>"
            + "".join(parts) + "</body></html>")
