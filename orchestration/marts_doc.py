"""docs/marts.md, generated where it restates the dbt project: the formulas and the marts' columns.

Each formula is written once, as a docs block in dbt_project/models/marts/_marts__formulas.md, and each
mart's description and columns once, in its model YAML (the YAML uses the blocks through `doc()`, so
`dbt docs` shows the same text). Two sections of docs/marts.md are made from them, between marker
comments: "How the numbers are made" (every block, in file order) and "The marts" (per model: its
description and a table of its columns; a description that is a formula block points to that block).
The rest of the page (the introduction, "Questions, answered in SQL") is written by hand.

    python -m orchestration.marts_doc        # rewrite docs/marts.md (a test fails when it is stale)
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "dbt_project" / "models"
FORMULAS = MODELS / "marts" / "_marts__formulas.md"
MODEL_YAMLS = (MODELS / "marts" / "_marts__models.yml", MODELS / "audit" / "_audit__models.yml")
DOC = REPO / "docs" / "marts.md"

_BLOCK = re.compile(r"\{%\s*docs\s+(\w+)\s*%\}\n(.*?)\n\{%\s*enddocs\s*%\}", re.S)
_DOC_REF = re.compile(r"\{\{\s*doc\(\s*['\"](\w+)['\"]\s*\)\s*\}\}")
_LEAD = re.compile(r"^\*\*(.+?)\*\*")


def formula_blocks() -> dict[str, str]:
    """The docs blocks of the formulas file, by name, in file order."""
    return dict(_BLOCK.findall(FORMULAS.read_text()))


def _title(block: str) -> str:
    lead = _LEAD.match(block)
    return lead.group(1).rstrip(".") if lead else "formula"


def _inline(description: str, blocks: dict[str, str]) -> str:
    """A YAML description for a table cell or paragraph: a formula block is named, not repeated."""

    def ref(match: re.Match[str]) -> str:
        return f"(see *{_title(blocks[match.group(1)])}* under How the numbers are made)"

    return " ".join(_DOC_REF.sub(ref, description).split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def sections() -> dict[str, str]:
    blocks = formula_blocks()
    how = "\n\n".join(blocks.values())
    marts: list[str] = []
    for path in MODEL_YAMLS:
        for model in yaml.safe_load(path.read_text())["models"]:
            marts += [f"### `{model['name']}`", "", _inline(model.get("description", ""), blocks), "",
                      "| column | description |", "|---|---|"]
            marts += [f"| `{c['name']}` | {_cell(_inline(c.get('description', ''), blocks))} |"
                      for c in model.get("columns", [])]
            marts.append("")
    return {"formulas": how, "marts": "\n".join(marts).rstrip("\n")}


def _markers(name: str) -> tuple[str, str]:
    return (f"<!-- generated: {name} (python -m orchestration.marts_doc; edit the dbt project, not this) -->",
            f"<!-- end generated: {name} -->")


def render(page: str) -> str:
    """The page with both generated sections made anew from the dbt project."""
    for name, body in sections().items():
        begin, end = _markers(name)
        head, found, rest = page.partition(begin)
        if not found or end not in rest:
            raise ValueError(f"{DOC}: the markers of the generated section {name!r} are missing")
        page = f"{head}{begin}\n\n{body}\n\n{end}{rest.partition(end)[2]}"
    return page


if __name__ == "__main__":
    DOC.write_text(render(DOC.read_text()))
    print(f"wrote {DOC.relative_to(REPO)}")
