"""dbt unit tests of every mart formula (quality, pricing, feedback merge, routing, rolling budgets,
percentiles), run against a warehouse built from a small generated dataset."""

from __future__ import annotations

import re

from ingestion import synthetic
from ingestion.layout import Layout
from orchestration.cli import main
from orchestration.defs.warehouse.project import run_unit_tests
from tests.conftest import END_DATE
from tests.paths import REPO


def test_dbt_unit_tests_pass(tmp_path, monkeypatch):
    layout = Layout.from_env(tmp_path / "aiw").ensure()
    synthetic.generate(layout, synthetic.Options(events=1500, days=2, seed=5, end_date=END_DATE))
    assert main(["--home", str(layout.home), "run"]) == 0
    monkeypatch.setenv("AIW_HOME", str(layout.home))  # dbt reads the warehouse path from it
    ok, output = run_unit_tests()
    assert ok, output
    # Every unit test of the project (the *_unit_tests.yml files; PASS also counts the on-run-start hooks)
    # ran and passed.
    declared = sum(len(re.findall(r"^  - name: ", f.read_text(), flags=re.M))
                   for f in (REPO / "dbt_project" / "models").rglob("*_unit_tests.yml"))
    done = re.search(r"PASS=(\d+) WARN=0 ERROR=0", output)
    assert declared >= 11 and done and int(done.group(1)) >= declared, output
