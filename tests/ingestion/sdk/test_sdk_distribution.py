"""The SDK as its own install: ingestion/pyproject.toml builds a wheel that runs docs/sdk.md without the warehouse.

The wheel is built the way an application would build it (`pip wheel ./ingestion`, in pip's isolated build
environment), installed into a new virtual environment that sees none of this repository's packages, and the
doc's blocks run there, in an interpreter started with `-I` from an empty directory, so nothing can be
imported from the checkout. 15-25 s on two busy cores, most of it the two pip installs (from pip's cache).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from ingestion.contract.schema import validate_record
from ingestion.sdk.events import now_ms
from tests.ingestion.sdk.sdk_doc import REPO, landed, python_blocks

# What an application must not get with the SDK: the warehouse's stack (pyproject.toml's core dependencies).
WAREHOUSE_PACKAGES = ("dagster", "dbt", "great-expectations", "pandas", "duckdb", "fastapi", "uvicorn",
                      "sqlalchemy", "pyarrow")
MAX_RUNTIME_DEPENDENCIES = 4  # besides the optional openai (posthog-python keeps its core to four)

# Printed by the venv's interpreter after `import ingestion.sdk`: where every ingestion module came from.
WHERE_FROM = ("import json, sys, ingestion.sdk; print(json.dumps({n: getattr(m, '__file__', None) "
              "for n, m in sys.modules.items() if n.split('.')[0] == 'ingestion'}))")


def run(args: list[str | Path], **kwargs) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that points at the checkout, AIW_HOME or OpenAI."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIW_", "OPENAI_", "PYTHON", "VIRTUAL_ENV"))}
    return env | extra


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class Venv:
    """A virtual environment without pip of its own: this test's pip installs into it (`pip --python`)."""

    def __init__(self, root: Path) -> None:
        run([sys.executable, "-m", "venv", "--without-pip", root])
        self.python = root / "bin" / "python"
        self.site = Path(run([self.python, "-I", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
                         .strip())

    def pip(self, *args: str | Path) -> str:
        return run([sys.executable, "-m", "pip", "--python", self.python, *args], env=clean_env())

    def packages(self) -> dict[str, str]:
        listed = json.loads(self.pip("list", "--format=json"))
        return {normalized(p["name"]): p["version"] for p in listed}

    def run_code(self, code: str, cwd: Path, **env: str) -> str:
        return run([self.python, "-I", "-c", code], cwd=cwd, env=clean_env(**env))


def warehouse_packages_in(packages: dict[str, str]) -> list[str]:
    return sorted(p for p in packages if p.startswith(WAREHOUSE_PACKAGES))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sdk-dist")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", out, REPO / "ingestion"],
        env=clean_env())
    (built,) = out.glob("ai_analytics_warehouse_sdk-*.whl")
    return built


def test_the_wheel_ships_the_repository_files_and_few_dependencies(wheel):
    with zipfile.ZipFile(wheel) as whl:
        modules = {n: whl.read(n) for n in whl.namelist() if n.startswith("ingestion/")}
        metadata = next(whl.read(n).decode() for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
    # One source of truth: every module in the wheel is the repository's file, byte for byte (no copies).
    assert {n: (REPO / n).read_bytes() for n in modules} == modules
    # Exactly the modules `import ingestion.sdk` loads from the checkout (a fresh interpreter): a module
    # the SDK starts importing must be added to only-include in ingestion/pyproject.toml, and nothing else ships.
    loaded = json.loads(run([sys.executable, "-c", WHERE_FROM], cwd=REPO))
    imported = {Path(f).relative_to(REPO).as_posix() for f in loaded.values() if f}
    assert sorted(imported) == sorted(modules), "ingestion/pyproject.toml's only-include is out of step"
    assert "ingestion/contract/schema.py" in modules
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    core = [r for r in requires if "extra ==" not in r]
    assert len(core) <= MAX_RUNTIME_DEPENDENCIES, core
    assert {normalized(re.split(r"[<>=!~; \[]", r)[0]) for r in core} == {"genai-prices", "orjson"}
    assert [r for r in requires if "extra ==" in r] == ["openai<4,>=3.57; extra == 'openai'"]


def test_the_sdk_pins_what_the_warehouse_pins():
    """Both distributions price with the same genai-prices and wrap the same openai: one pin per package."""

    def by_name(requirements: list[str]) -> dict[str, str]:
        return {normalized(re.split(r"[<>=!~; \[]", r)[0]): r for r in requirements}

    sdk = tomllib.loads((REPO / "ingestion" / "pyproject.toml").read_text())["project"]
    warehouse = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    sdk_pins = by_name(sdk["dependencies"] + sdk["optional-dependencies"]["openai"])
    warehouse_pins = by_name(warehouse["dependencies"] + warehouse["optional-dependencies"]["sdk"])
    assert sdk_pins == {name: warehouse_pins[name] for name in sdk_pins}
    assert sdk["version"] == warehouse["version"]


def test_a_fresh_venv_runs_the_docs_without_the_warehouse(wheel, tmp_path, fake_openai):
    venv = Venv(tmp_path / "venv")
    venv.pip("install", "--quiet", wheel)
    installed = venv.packages()
    assert installed["ai-analytics-warehouse-sdk"] == "0.1.0"
    assert warehouse_packages_in(installed) == []
    assert "openai" not in installed  # the core install: instrument_openai's client is the application's

    # Every ingestion module the SDK loads comes from the venv, none from this checkout.
    where = json.loads(venv.run_code(WHERE_FROM, tmp_path))
    assert "ingestion.contract.schema" in where and "ingestion.sdk.openai_instrument" in where
    assert all(Path(f).is_relative_to(venv.site) for f in where.values() if f), where

    quickstart, with_openai = python_blocks()
    first = tmp_path / "quickstart"
    first.mkdir()
    out = venv.run_code(quickstart, first)
    records = landed(first)
    assert [r.get("record_type", "interaction") for r in records] == ["interaction", "feedback", "feedback"]
    assert all(validate_record(r, now_ms()) == [] for r in records)  # the repository's contract accepts them
    interaction = records[0]
    assert interaction["event_id"] in out and "sent=3" in out
    when = dt.datetime.fromtimestamp(interaction["timestamp"] / 1000, tz=dt.UTC)
    expected = float(calc_price(Usage(input_tokens=1200, cache_read_tokens=1024, output_tokens=180), "gpt-4o-mini",
                                provider_id="openai", genai_request_timestamp=when).total_price)
    assert interaction["estimated_cost_usd"] == pytest.approx(expected, rel=1e-9)

    # The optional extra: the OpenAI block of the doc, against a local OpenAI-compatible server.
    venv.pip("install", "--quiet", f"{wheel}[openai]")
    installed = venv.packages()
    assert "openai" in installed and warehouse_packages_in(installed) == []
    second = tmp_path / "openai"
    second.mkdir()
    out = venv.run_code(with_openai, second, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake_openai.base_url)
    assert out == "".join(fake_openai.WORDS)
    records = landed(second)
    assert len(records) == 2 and all(validate_record(r, now_ms()) == [] for r in records)
    assert [r.get("stream_chunks_received") for r in records] == [None, fake_openai.chunks_sent[-1]]
