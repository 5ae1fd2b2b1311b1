"""instrument_openai and StreamTracker with the real openai client against a local OpenAI-compatible server."""

from __future__ import annotations

import asyncio

import openai
import pytest

from ingestion.contract.schema import validate_record
from ingestion.sdk import BatchEmitter, StreamTracker, instrument_openai, tracking_context
from ingestion.sdk.events import now_ms, text_hash
from tests.ingestion.sdk.conftest import FakeOpenAI, MemoryTransport

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]
ANSWER = "".join(FakeOpenAI.WORDS)
# gpt-4o-mini list prices per MTok: input 0.15, cached input 0.075, output 0.60.
EXPECTED_COST = ((FakeOpenAI.PROMPT_TOKENS - FakeOpenAI.CACHED_TOKENS) * 0.15 + FakeOpenAI.CACHED_TOKENS * 0.075
                 + len(FakeOpenAI.WORDS) * 0.60) / 1e6


def events(em: BatchEmitter, transport: MemoryTransport) -> list[dict]:
    assert em.flush(timeout=5)
    return transport.records


def client(server: FakeOpenAI, cls=openai.OpenAI):
    return cls(base_url=server.base_url, api_key="sk-test", max_retries=0)


def assert_usage_event(event: dict) -> None:
    assert validate_record(event, now_ms()) == []
    assert (event["prompt_tokens"], event["completion_tokens"], event["cached_tokens"]) == (
        FakeOpenAI.PROMPT_TOKENS, len(FakeOpenAI.WORDS), FakeOpenAI.CACHED_TOKENS)
    assert event["estimated_cost_usd"] == pytest.approx(EXPECTED_COST)
    assert (event["model_id"], event["model_version"]) == ("gpt-4o-mini", FakeOpenAI.RESPONSE_MODEL)
    assert event["prompt_hash"] == text_hash("Be brief.\nCapital of France?")
    assert event["response_hash"] == text_hash(ANSWER)


def test_sync_completion_is_recorded(fake_openai, sink):
    em, transport = sink
    c = instrument_openai(client(fake_openai), feature_id="qa", emitter=em)
    with tracking_context(session_id="s_42", user_id="u_7"):
        response = c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert response.choices[0].message.content == ANSWER  # the caller's result is untouched
    (event,) = events(em, transport)
    assert_usage_event(event)
    assert (event["feature_id"], event["session_id"], event["user_id"]) == ("qa", "s_42", "u_7")
    assert event["ttft_ms"] == event["total_latency_ms"] and "stream_chunks_received" not in event


def test_sync_stream_measures_ttft_chunks_and_usage(fake_openai, sink):
    em, transport = sink
    c = instrument_openai(client(fake_openai), feature_id="qa", emitter=em)
    stream = c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    chunks = list(stream)
    # The usage-only chunk the SDK asked for is hidden: every chunk the caller sees has a choice.
    assert all(ch.choices for ch in chunks)
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == ANSWER
    assert fake_openai.requests[-1]["stream_options"] == {"include_usage": True}
    (event,) = events(em, transport)
    assert_usage_event(event)
    delay_ms = fake_openai.first_chunk_delay * 1000
    assert delay_ms <= event["ttft_ms"] < delay_ms + 1000
    assert event["ttft_ms"] <= event["total_latency_ms"]
    assert event["stream_chunks_received"] == fake_openai.chunks_sent[-1] == len(chunks) + 1


def test_async_stream_and_async_completion(fake_openai, sink):
    em, transport = sink
    c = instrument_openai(client(fake_openai, openai.AsyncOpenAI), feature_id="qa", emitter=em)

    async def run() -> str:
        stream = await c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        text = "".join([ch.choices[0].delta.content or "" async for ch in stream])
        await c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        await c.close()
        return text

    assert asyncio.run(run()) == ANSWER
    streamed, plain = events(em, transport)
    assert_usage_event(streamed)
    assert_usage_event(plain)
    assert fake_openai.first_chunk_delay * 1000 <= streamed["ttft_ms"] < fake_openai.first_chunk_delay * 1000 + 1000
    assert streamed["stream_chunks_received"] == fake_openai.chunks_sent[-1]


def test_stream_without_usage_has_unknown_tokens_and_a_flagged_estimate(fake_openai, sink):
    em, transport = sink
    raw = client(fake_openai)
    started = __import__("time").monotonic()
    stream = raw.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    tracker = StreamTracker(stream, started_at=started, feature_id="qa", model_id="gpt-4o-mini",
                            session_id="s1", emitter=em)
    assert "".join(ch.choices[0].delta.content or "" for ch in tracker) == ANSWER
    (event,) = events(em, transport)
    assert validate_record(event, now_ms()) == []
    assert event["prompt_tokens"] is None and event["completion_tokens"] is None
    assert event["estimated_cost_usd"] is None  # unknown, never zero
    assert tracker.result.tokens_estimated and tracker.result.estimated_completion_tokens == len(FakeOpenAI.WORDS)
    assert event["stream_chunks_received"] == fake_openai.chunks_sent[-1]
    assert event["model_version"] == FakeOpenAI.RESPONSE_MODEL


def test_failed_call_is_recorded_as_an_error_and_still_raises(fake_openai, sink):
    em, transport = sink
    c = instrument_openai(client(fake_openai), feature_id="qa", emitter=em)
    with pytest.raises(openai.InternalServerError):
        c.chat.completions.create(model="fail-500", messages=MESSAGES)
    (event,) = events(em, transport)
    assert event["is_error"] is True and event["prompt_tokens"] is None
    assert validate_record(event, now_ms()) == []


def test_instrumenting_twice_records_once(fake_openai, sink):
    em, transport = sink
    c = instrument_openai(instrument_openai(client(fake_openai), feature_id="qa", emitter=em),
                          feature_id="qa", emitter=em)
    c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(events(em, transport)) == 1
