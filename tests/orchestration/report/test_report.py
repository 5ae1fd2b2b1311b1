"""The HTML report on hand-written marts: every number it draws is recomputed here in plain Python."""

from __future__ import annotations

import re
from collections import defaultdict
from html import unescape

import pytest

from ingestion.layout import Layout
from orchestration.cli import main
from orchestration.report import charts
from orchestration.report.build import write_report
from tests.builders import marts_fixture as mf


@pytest.fixture
def report(layout: Layout) -> str:
    mf.build(layout)
    return write_report(layout).path.read_text()


def tooltips(html: str, chart: str) -> list[str]:
    svg = re.search(rf'<svg[^>]*data-chart="{chart}".*?</svg>', html, re.S).group(0)
    return [unescape(t) for t in re.findall(r"<title>([^<]*)</title>", svg)]


def test_report_is_one_offline_file(report):
    assert "<script" not in report and "src=" not in report and "href=" not in report and "@import" not in report
    for chart in ("cost_per_day", "session_cost", "ttft_p95", "quality", "regeneration", "routing"):
        assert f'data-chart="{chart}"' in report, chart


def test_cost_per_day_by_model(report):
    cost = defaultdict(float)
    for day, model, _, usd in mf.INTERACTIONS:
        cost[(str(day), model)] += usd
    expected = sorted(f"{day} {model}: {charts.money(v)}" for (day, model), v in cost.items())
    assert sorted(tooltips(report, "cost_per_day")) == expected
    total = sum(v for _, _, _, v in mf.INTERACTIONS)
    assert f"<b>{charts.money(total)}</b><span>cost</span>" in report


def test_session_cost_bands_and_budget(report):
    edges = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0]
    counts = defaultdict(int)
    for *_, c, _ in mf.SESSIONS:
        counts[sum(c >= e for e in edges)] += 1
    bars = tooltips(report, "session_cost")
    nonzero = [b for b in bars if not b.endswith(": 0 sessions")]
    assert sorted(int(b.split(": ")[1].split()[0]) for b in nonzero) == sorted(counts.values())
    assert "$0.5-1: 2 sessions" in bars and ">=$5: " not in " ".join(bars)  # 0.5 and 0.8; trimmed tail
    over = sum(c > 0.5 for *_, c, _ in mf.SESSIONS)
    assert f"<b>{over}</b><span>over budget</span>" in report


def test_latency_quality_drift_and_routing(report):
    ttft = tooltips(report, "ttft_p95")
    assert f"SLO 1,500 ms: {charts.ms(mf.SLO_MS)}" in ttft
    assert {f"{f} {d}: {charts.ms(p)}" for f, d, p, _, _ in mf.FEATURE_DAILY} <= set(ttft)
    assert {f"{f} {d}: {charts.pct(r)}" for f, d, _, _, r in mf.FEATURE_DAILY} <= set(tooltips(report, "regeneration"))
    breached = [x for x in mf.LATENCY if x[4]]
    assert f"<td>chat</td><td>gpt-4o</td><td class=num>{len(breached)}</td>" in report
    assert ("<td>gpt-4o</td><td>2024-11-20</td><td>2026-11-19</td><td class=num>2</td><td class=num>85</td>"
            "<td>regeneration_rate 0.31 vs 0.08</td>") in report
    chat = defaultdict(int)
    for f, _, s, n in mf.ROUTING:
        chat[s] += n if f == "chat" else 0
    total = sum(chat.values())
    assert {f"chat {s}: {n / total:.1%}" for s, n in chat.items() if n} <= set(tooltips(report, "routing"))
    assert "search primary: 100.0%" in tooltips(report, "routing")


def test_aiw_report_command(layout, capsys, tmp_path):
    mf.build(layout)
    out = tmp_path / "r.html"
    assert main(["--home", str(layout.home), "report", "--output", str(out)]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert f"{len(mf.INTERACTIONS)} interactions" in capsys.readouterr().out


def test_nice_ticks_cover_the_data():
    assert charts.nice_ticks(109.6) == [0, 25, 50, 75, 100, 125]
    assert charts.nice_ticks(1.0) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
