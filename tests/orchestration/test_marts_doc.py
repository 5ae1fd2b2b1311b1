"""docs/marts.md restates the dbt project (formulas, marts, columns) only where it is generated from it."""

from __future__ import annotations

import re

import yaml

from orchestration import marts_doc


def test_the_marts_doc_is_generated_from_the_dbt_project():
    page = marts_doc.DOC.read_text()
    assert marts_doc.render(page) == page, "docs/marts.md is stale: run `python -m orchestration.marts_doc`"


def test_every_formula_block_is_on_the_page_once_and_every_doc_reference_resolves():
    blocks = marts_doc.formula_blocks()
    page = marts_doc.DOC.read_text()
    assert {"cost_usd", "implicit_quality_score", "model_drift_tests"} <= set(blocks)
    for name, text in blocks.items():
        assert page.count(text) == 1, name
    referenced = {ref for path in marts_doc.MODEL_YAMLS
                  for ref in re.findall(r"doc\(\s*['\"](\w+)['\"]", path.read_text())}
    assert referenced and referenced <= set(blocks)


def test_every_mart_column_of_the_yaml_is_in_the_page_table():
    page = marts_doc.DOC.read_text()
    for path in marts_doc.MODEL_YAMLS:
        for model in yaml.safe_load(path.read_text())["models"]:
            section = page.split(f"### `{model['name']}`", 1)[1].split("\n### ", 1)[0]
            rows = re.findall(r"^\| `(\w+)` \|", section, flags=re.M)
            assert rows == [c["name"] for c in model["columns"]], model["name"]
