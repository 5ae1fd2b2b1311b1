"""Produce landing files with real gateway and tracing libraries against local fakes (run as a subprocess).

`python -m tests.adapters.produce_gateways <AIW_HOME> <truth.json>` makes the same five chat completions as
tests/adapters/produce.py through
- the `litellm` SDK, whose custom logger writes each call's standard logging payload (what LiteLLM's S3, GCS
  and custom loggers receive) as JSON lines to landing/litellm/<today>/payloads.jsonl,
and writes what the fake OpenAI server served (the ground truth) to truth.json. A subprocess of its own:
litellm brings its own httpx clients, so it must not run where tests/adapters/produce.py aliases httpx.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

# LiteLLM fetches its model price map from the internet at import unless told to use the copy it ships.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tests.adapters.fakes import FakeOpenAI  # noqa: E402
from tests.adapters.scenario import calls  # noqa: E402

LITELLM_USER = "bob@example.com"
LITELLM_FEATURE = "support_chat_gw"


class _Completions:
    """`client.chat.completions.create(...)` of the OpenAI client, made through litellm.completion."""

    def __init__(self, base_url: str, extra: dict[str, Any]) -> None:
        self.base_url, self.extra = base_url, extra

    def create(self, *, model: str, **kwargs: Any) -> Any:
        import litellm

        return litellm.completion(model=f"openai/{model}", api_base=self.base_url, api_key="sk-test",
                                  num_retries=0, **kwargs, **self.extra)


class LitellmClient:
    def __init__(self, base_url: str, extra: dict[str, Any]) -> None:
        self.chat = type("Chat", (), {"completions": _Completions(base_url, extra)})()


def produce_litellm(fake: FakeOpenAI, landing: Path) -> None:
    import litellm
    from litellm.integrations.custom_logger import CustomLogger

    landing.mkdir(parents=True, exist_ok=True)
    path = landing / "payloads.jsonl"

    class PayloadFile(CustomLogger):
        """Appends every call's standard logging payload as one JSON line, success or failure."""

        def _write(self, kwargs: dict[str, Any]) -> None:
            with path.open("a") as fh:
                fh.write(json.dumps(kwargs["standard_logging_object"], default=str) + "\n")

        def log_success_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001
            self._write(kwargs)

        def log_failure_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001
            self._write(kwargs)

    litellm.callbacks = [PayloadFile()]
    client = LitellmClient(fake.base_url, {
        "user": LITELLM_USER, "metadata": {"tags": ["team:support"],
                                           "spend_logs_metadata": {"feature_id": LITELLM_FEATURE}},
        "litellm_session_id": "sess-gw-1"})
    calls(client, {})
    # Success callbacks run on a worker thread after the call returns: wait for all five lines.
    _wait_for_lines(path, 5)


def _wait_for_lines(path: Path, count: int, timeout_s: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        time.sleep(0.05)
    raise TimeoutError(f"{path}: fewer than {count} lines after {timeout_s} s")


def main(home: Path, truth: Path) -> None:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    fake = FakeOpenAI().start()
    try:
        produce_litellm(fake, home / "landing" / "litellm" / today)
    finally:
        fake.stop()
    truth.write_text(json.dumps({"litellm": [asdict(s) for s in fake.served]}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
