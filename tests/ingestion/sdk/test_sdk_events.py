"""Pure SDK units: events built by track_interaction / record_feedback, prices, quality, hashing."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from genai_prices import Usage, calc_price

from ingestion import synthetic
from ingestion.contract import quality
from ingestion.contract.schema import validate_record
from ingestion.sdk import BatchEmitter, estimate_cost_usd, record_feedback, track_interaction
from ingestion.sdk.events import text_hash
from ingestion.sdk.tracking import usage_tokens
from tests.ingestion.sdk.conftest import MemoryTransport

NOW = 1_764_300_000_000  # 2025-11-28, a fixed clock for the contract's plausibility window


@pytest.fixture
def emitter(tmp_path):
    em = BatchEmitter(MemoryTransport(), spill_dir=tmp_path / "spill", at_exit=False)
    yield em
    em.close()


def test_interaction_is_a_valid_latest_version_record_with_cost_from_list_prices(emitter):
    event = track_interaction(feature_id="chat", model_id="gpt-4o", model_version="2024-08-06", session_id="s1",
                              user_id="u_1", prompt_tokens=1000, cached_tokens=200, completion_tokens=500,
                              ttft_ms=120.0, total_latency_ms=900.0, provider="openai", routing_strategy="primary",
                              timestamp_ms=NOW, emitter=emitter)
    assert validate_record(event, NOW) == []
    assert event["schema_version"] == "1.2"
    # gpt-4o list prices: $2.50/MTok input, $1.25/MTok cached input, $10/MTok output.
    assert event["estimated_cost_usd"] == pytest.approx((800 * 2.50 + 200 * 1.25 + 500 * 10.0) / 1e6)
    assert event["implicit_quality_score"] == 1.0
    assert emitter.stats().emitted == 1


def test_quality_uses_the_documented_formula(emitter):
    # regenerated (-0.3), slow (x0.6), completion/prompt = 3 > 2.5 (-0.1): (1 - 0.3) * 0.6 - 0.1 = 0.32
    event = track_interaction(feature_id="f", model_id="gpt-4o", session_id="s", prompt_tokens=100,
                              completion_tokens=300, total_latency_ms=3500, user_regenerated=True, emitter=emitter)
    assert event["implicit_quality_score"] == pytest.approx(0.32)
    assert synthetic.producer_quality is quality.producer_quality  # one formula for SDK and synthetic data


def test_unknown_model_and_missing_tokens_mean_unknown_cost_not_an_error(emitter):
    unknown = track_interaction(feature_id="f", model_id="our-finetune-v7", session_id="s", prompt_tokens=10,
                                completion_tokens=5, total_latency_ms=50, timestamp_ms=NOW, emitter=emitter)
    no_tokens = track_interaction(feature_id="f", model_id="gpt-4o", session_id="s", total_latency_ms=50,
                                  is_error=True, timestamp_ms=NOW, emitter=emitter)
    assert unknown["estimated_cost_usd"] is None and unknown["implicit_quality_score"] == 1.0
    assert no_tokens["estimated_cost_usd"] is None and no_tokens["implicit_quality_score"] is None
    assert no_tokens["prompt_tokens"] is None and no_tokens["is_error"] is True
    assert validate_record(unknown, NOW) == [] and validate_record(no_tokens, NOW) == []


def test_usage_objects_give_tokens_including_cache_details(emitter):
    usage = {"prompt_tokens": 2000, "completion_tokens": 100, "prompt_tokens_details": {"cached_tokens": 1536},
             "completion_tokens_details": {"reasoning_tokens": 40}}
    assert usage_tokens(usage) == {"prompt_tokens": 2000, "completion_tokens": 100, "cached_tokens": 1536,
                                   "cache_write_tokens": None, "reasoning_tokens": 40}
    event = track_interaction(feature_id="f", model_id="gpt-4o-mini", session_id="s", usage=usage,
                              total_latency_ms=10, timestamp_ms=NOW, emitter=emitter)
    # gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output per MTok.
    assert event["estimated_cost_usd"] == pytest.approx((464 * 0.15 + 1536 * 0.075 + 100 * 0.60) / 1e6)
    assert (event["cached_tokens"], event["reasoning_tokens"]) == (1536, 40)
    assert validate_record(event, NOW) == []


def test_text_is_hashed_from_a_scrubbed_prefix_and_never_stored(emitter):
    prompt = "Write to jane.doe@example.com about invoice 4111 1111 1111 1111 please"
    event = track_interaction(feature_id="f", model_id="gpt-4o", session_id="s", prompt=prompt, response="Done.",
                              user_id="jane.doe@example.com", total_latency_ms=1, emitter=emitter)
    line = json.dumps(event)
    assert "jane" not in line and "4111" not in line and "invoice" not in line and "Done." not in line
    # Two prompts that differ only in PII hash the same: the hash is of the scrubbed text.
    assert event["prompt_hash"] == text_hash(prompt.replace("jane.doe", "john.roe"))
    assert event["prompt_hash"] != text_hash("something else")
    assert event["user_id"].startswith("u_") and len(event["user_id"]) == 26  # pseudonymised, stable
    assert text_hash("x" * 5000) == text_hash("x" * 1024 + "different tail")  # prefix only


def test_feedback_records_are_valid_and_checked(emitter):
    fb = record_feedback("e_123", "rating", rating="up", timestamp_ms=NOW, emitter=emitter)
    regen = record_feedback("e_123", "regenerated", feedback_id="f_fixed", timestamp_ms=NOW, emitter=emitter)
    assert validate_record(fb, NOW) == [] and validate_record(regen, NOW) == []
    assert fb["record_type"] == "feedback" and regen["feedback_id"] == "f_fixed"
    with pytest.raises(ValueError, match="rating"):
        record_feedback("e_123", "rating", emitter=emitter)
    with pytest.raises(ValueError, match="not one of"):
        record_feedback("e_123", "liked", emitter=emitter)


@pytest.mark.parametrize("model,provider", [("gpt-4o", "openai"), ("gpt-4o-mini-2024-07-18", "openai"),
                                            ("claude-3-5-sonnet", "anthropic"), ("claude-3-5-haiku", None),
                                            ("gemini-2.5-pro", "google")])
def test_fast_pricing_matches_genai_prices(model, provider):
    rng = random.Random(model)
    when = dt.datetime.fromtimestamp(NOW / 1000, tz=dt.UTC)
    for _ in range(25):
        prompt = rng.randint(1, 400_000)  # crosses the 200k tier of tiered models
        cached = rng.randint(0, prompt // 2)
        written = rng.randint(0, (prompt - cached) // 2)
        completion = rng.randint(0, 8000)
        expected = float(calc_price(Usage(input_tokens=prompt, cache_read_tokens=cached,
                                          cache_write_tokens=written, output_tokens=completion), model,
                                    provider_id=provider, genai_request_timestamp=when).total_price)
        got = estimate_cost_usd(model, prompt, completion, cached_tokens=cached, cache_write_tokens=written,
                                provider=provider, timestamp_ms=NOW)
        assert got == pytest.approx(expected, rel=1e-9)


def test_tags_and_prompt_version_join_from_the_context_and_the_call():
    from ingestion.contract.schema import LATEST_VERSION, validate_record
    from ingestion.sdk.events import now_ms
    from ingestion.sdk.tracking import track_interaction, tracking_context

    sent: list[dict] = []

    class Collect:
        def emit(self, record):
            sent.append(record)

    def call(**kw):
        return track_interaction(feature_id="chat", model_id="gpt-4o", session_id="s1", total_latency_ms=10.0,
                                 prompt_tokens=10, completion_tokens=5, emitter=Collect(), **kw)

    with tracking_context(tags={"tenant": "acme", "env": "prod"}, prompt_version="p1"):
        with tracking_context(tags={"team": "search", "env": "staging"}):
            inner = call(tags={"customer": 42, "team": None})
        outer = call(prompt_version="p2")
    bare = call()
    assert inner["tags"] == {"tenant": "acme", "env": "staging", "customer": "42"}  # team=None: not set
    assert inner["prompt_version"] == "p1"
    assert (outer["tags"], outer["prompt_version"]) == ({"tenant": "acme", "env": "prod"}, "p2")
    assert "tags" not in bare and "prompt_version" not in bare
    assert all(r["schema_version"] == LATEST_VERSION == "1.2" and validate_record(r, now_ms()) == [] for r in sent)
