"""docs/sdk.md as test input: its Python blocks, and the events they land under `<cwd>/.aiw`."""

from __future__ import annotations

import re
from pathlib import Path

import orjson

from tests.paths import REPO

DOC = REPO / "docs" / "sdk.md"


def python_blocks() -> list[str]:
    """The ```python blocks of docs/sdk.md, in order: [quickstart, with the OpenAI client]."""
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def landed(cwd: Path) -> list[dict]:
    """Every record the SDK wrote to the default landing directory of a process started in `cwd`."""
    files = sorted((cwd / ".aiw" / "landing" / "native").rglob("*.ndjson"))
    return [orjson.loads(line) for f in files for line in f.read_bytes().splitlines()]
