"""StreamTracker on plain iterators: early close, failures mid-stream, async generators."""

from __future__ import annotations

import asyncio
import time

import pytest

from ingestion.contract.schema import validate_record
from ingestion.sdk import BatchEmitter, StreamTracker
from ingestion.sdk.events import now_ms
from tests.ingestion.sdk.conftest import MemoryTransport

FIELDS = {"feature_id": "f", "model_id": "gpt-4o", "session_id": "s"}


def chunk(text: str) -> dict:
    return {"model": "gpt-4o-2024-08-06", "choices": [{"delta": {"content": text}}]}


@pytest.fixture
def sink(tmp_path):
    transport = MemoryTransport()
    em = BatchEmitter(transport, spill_dir=tmp_path, at_exit=False)
    yield em, transport
    em.close()


def test_closing_early_records_what_was_received(sink):
    em, transport = sink

    def stream():
        time.sleep(0.05)
        for _ in range(10):
            yield chunk("b")

    with StreamTracker(stream(), emitter=em, **FIELDS) as tracker:
        for i, _ in enumerate(tracker):
            if i == 2:
                break
    assert em.flush(5)
    (event,) = transport.records
    assert event["stream_chunks_received"] == 3 and event["is_error"] is False
    assert 50 <= event["ttft_ms"] <= event["total_latency_ms"]
    assert event["model_version"] == "gpt-4o-2024-08-06" and event["prompt_tokens"] is None
    assert tracker.result.estimated_completion_tokens == 3 and tracker.result.tokens_estimated
    assert validate_record(event, now_ms()) == []


def test_failure_mid_stream_is_recorded_and_reraised(sink):
    em, transport = sink

    def stream():
        yield chunk("a")
        raise ConnectionError("peer went away")

    with pytest.raises(ConnectionError):
        list(StreamTracker(stream(), emitter=em, **FIELDS))
    assert em.flush(5)
    (event,) = transport.records
    assert event["is_error"] is True and event["stream_chunks_received"] == 1


def test_async_generator_with_final_usage(sink):
    em, transport = sink

    async def stream():
        await asyncio.sleep(0.05)
        yield chunk("x")
        yield chunk("y")
        yield {"choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 2}}

    async def consume() -> list:
        return [c async for c in StreamTracker(stream(), emitter=em, hide_usage_chunk=True, **FIELDS)]

    assert len(asyncio.run(consume())) == 2  # the usage-only chunk is hidden
    assert em.flush(5)
    (event,) = transport.records
    assert (event["prompt_tokens"], event["completion_tokens"], event["stream_chunks_received"]) == (40, 2, 3)
    assert event["estimated_cost_usd"] == pytest.approx((40 * 2.50 + 2 * 10.0) / 1e6)  # gpt-4o list prices
    assert event["ttft_ms"] >= 50
