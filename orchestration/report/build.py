"""Write the report file: read the marts, render the page, replace the file atomically."""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ingestion.layout import Layout
from orchestration.alerts.log import AlertLog
from orchestration.report.page import render
from orchestration.report.queries import ReportData, read_report_data
from orchestration.warehouse.connection import open_readonly


@dataclass
class ReportResult:
    """Where the report went and the headline numbers it shows."""

    path: Path
    data: ReportData
    bytes: int


def default_report_path(layout: Layout) -> Path:
    return layout.home / "reports" / "report.html"


def write_report(layout: Layout, output: Path | None = None, now: dt.datetime | None = None) -> ReportResult:
    """Render the report from AIW_HOME's marts into `output` (default AIW_HOME/reports/report.html)."""
    con = open_readonly(layout.warehouse)  # WarehouseMissing is a FileNotFoundError, WarehouseBusy a RuntimeError
    try:
        data = read_report_data(con)
    except duckdb.CatalogException as exc:
        raise RuntimeError(f"the marts are not built yet ({exc}); run `aiw run` first") from exc
    finally:
        con.close()
    alerts = Counter(e.alert.kind for e in AlertLog(layout).state().values())
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    html = render(data, stamp, dict(alerts))
    path = output or default_report_path(layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)  # a reader never sees half a report
    return ReportResult(path, data, len(html.encode()))
