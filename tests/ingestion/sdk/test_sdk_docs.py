"""docs/sdk.md runs as written: each Python block is executed in a fresh interpreter in an empty directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ingestion.contract.schema import validate_record
from ingestion.sdk.events import now_ms
from tests.ingestion.sdk.sdk_doc import DOC, landed, python_blocks


def run_block(code: str, cwd: Path, extra_env: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIW_", "OPENAI_"))}
    env.update(extra_env, PYTHONPATH=str(DOC.parents[1]))
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_quickstart_and_openai_examples_run_as_written(tmp_path, fake_openai):
    quickstart, with_openai = python_blocks()
    first = tmp_path / "quickstart"
    first.mkdir()
    out = run_block(quickstart, first, {})
    records = landed(first)
    assert [r.get("record_type", "interaction") for r in records] == ["interaction", "feedback", "feedback"]
    assert all(validate_record(r, now_ms()) == [] for r in records)
    assert records[0]["event_id"] in out and "sent=3" in out
    assert (records[0]["tags"], records[0]["prompt_version"]) == ({"tenant": "acme", "env": "prod"}, "reset-help-v2")

    second = tmp_path / "openai"
    second.mkdir()
    out = run_block(with_openai, second, {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake_openai.base_url})
    assert out == "".join(fake_openai.WORDS)
    records = landed(second)  # sent by the atexit flush of the default emitter
    assert len(records) == 2 and all(validate_record(r, now_ms()) == [] for r in records)
    assert {r["session_id"] for r in records} == {"s_123"}
    assert [r["tags"] for r in records] == [{"tenant": "acme", "team": "support"}] * 2
    assert [r.get("stream_chunks_received") for r in records] == [None, fake_openai.chunks_sent[-1]]
