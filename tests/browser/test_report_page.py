"""The HTML report in headless Chromium: every chart renders, nothing is fetched, the console stays clean."""

from __future__ import annotations

from ingestion.layout import Layout
from orchestration.report.build import write_report
from tests.browser.conftest import body_text, screenshot, severe_console_messages
from tests.builders import marts_fixture as mf

CHARTS = {"cost_per_day": "Cost per day by model", "session_cost": "Cost per session",
          "ttft_p95": "Time to first token", "quality": "Implicit quality by feature",
          "regeneration": "Regeneration rate by feature", "routing": "Routing strategy share"}


def test_report_charts_render_offline_without_console_errors(browser, tmp_path):
    layout = Layout.from_env(tmp_path / "aiw").ensure()
    mf.build(layout)
    path = write_report(layout).path
    browser.get(path.as_uri())
    screenshot(browser, "report")
    drawn = browser.execute_script("""
        return Array.from(document.querySelectorAll('svg[data-chart]')).map(svg => {
          const box = svg.getBoundingClientRect();
          return {id: svg.dataset.chart, width: box.width, height: box.height,
                  marks: svg.querySelectorAll('.mark').length,
                  ticks: svg.querySelectorAll('.tick').length,
                  title: svg.querySelector('.chart-title').textContent,
                  axisTitles: Array.from(svg.querySelectorAll('.axis-title')).map(t => t.textContent)};
        });""")
    by_id = {c["id"]: c for c in drawn}
    assert set(by_id) == set(CHARTS)
    for chart_id, title in CHARTS.items():
        chart = by_id[chart_id]
        assert chart["title"].startswith(title)
        assert chart["width"] >= 700 and chart["height"] >= 150, chart
        assert chart["marks"] > 0 and chart["ticks"] >= 3, chart
        assert chart["axisTitles"] and all(chart["axisTitles"]), chart
    # Marks drawn match the data: one bar segment per day x model, one line marker per feature x day.
    assert by_id["cost_per_day"]["marks"] == len({(d, m) for d, m, _, _ in mf.INTERACTIONS})
    assert by_id["quality"]["marks"] == len(mf.FEATURE_DAILY) + len(mf.FEATURES)  # dots + one path each
    text = body_text(browser)
    assert "Model versions that drifted" in text and "2024-11-20" in text
    # Self-contained: the page loaded nothing besides itself.
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert severe_console_messages(browser) == []
