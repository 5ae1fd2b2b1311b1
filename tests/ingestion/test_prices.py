"""The price table and the model resolution, against genai-prices itself (pure: no warehouse)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest
from genai_prices import Usage, calc_price

from ingestion.prices import DAY_SECONDS, candidate_model_strings, price_rows, resolve


@pytest.mark.parametrize(("model_id", "model_version", "expected"), [
    ("gpt-4o", "2024-08-06", ["gpt-4o-2024-08-06", "2024-08-06", "gpt-4o"]),
    ("gpt-4o-mini", "gpt-4o-mini-2024-07-18", ["gpt-4o-mini-2024-07-18", "gpt-4o-mini"]),  # OTel response model
    ("prod-deployment", "gpt-4o-2024-08-06", ["prod-deployment-gpt-4o-2024-08-06", "gpt-4o-2024-08-06",
                                              "prod-deployment"]),
    ("gpt-4o", "gpt-4o", ["gpt-4o"]),
    ("gpt-4o", "", ["gpt-4o"]),
])
def test_model_strings_are_asked_most_specific_first(model_id, model_version, expected):
    assert candidate_model_strings(model_id, model_version) == expected


@pytest.mark.parametrize(("provider", "model_id", "model_version"), [
    ("openai", "gpt-4o", "2024-08-06"),
    ("cerebras", "gpt-oss-120b", "gpt-oss-120b"),  # not Groq's rate for the same model name
    ("groq", "openai/gpt-oss-120b", "openai/gpt-oss-120b"),
    ("azure", "gpt-4o", "gpt-4o"),  # Azure falls back to OpenAI's models
    ("aws.bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic.claude-3-5-sonnet-20241022-v2:0"),
    (None, "claude-sonnet-4-5", "claude-sonnet-4-5"),
    (None, "gemini-2.5-pro", "gemini-2.5-pro"),  # matched by a rule that is not equals/starts_with
])
def test_resolution_is_what_calc_price_finds(provider, model_id, model_version):
    resolution = resolve(provider, model_id, model_version)
    found = calc_price(Usage(input_tokens=1), resolution.matched_model, provider_id=provider)
    assert (resolution.resolved_provider_id, resolution.model_ref) == (found.provider.id, found.model.id)
    assert resolution.unresolved_reason is None


def test_a_fallback_provider_is_priced_from_the_provider_that_lists_the_model():
    resolution = resolve("azure", "gpt-4o", "gpt-4o")
    assert (resolution.resolved_provider_id, resolution.price_provider_id) == ("azure", "openai")


@pytest.mark.parametrize(("provider", "model_id", "reason"), [
    ("my-proxy", "gpt-4o", "Unable to find provider"),
    ("openai", "my-fine-tune", "Unable to find model"),
    (None, "my-fine-tune", "Unable to find provider with model matching"),
])
def test_what_genai_prices_does_not_know_stays_unresolved_and_says_why(provider, model_id, reason):
    resolution = resolve(provider, model_id, "1")
    assert resolution.model_ref is None
    assert reason in resolution.unresolved_reason


def test_price_cells_of_each_model_cover_every_instant_and_prompt_exactly_once():
    """Within a provider's model the rows partition dates x seconds x prompt sizes (where priced)."""
    cells = defaultdict(list)
    for row in price_rows():
        cells[(row.provider_id, row.model_ref)].append(row)
    assert len(cells) > 2000
    for key, rows in cells.items():
        for row in rows:
            assert row.valid_from < row.valid_to and 0 <= row.utc_second_from < row.utc_second_to <= DAY_SECONDS
        probes = {(r.valid_from, s, p) for r in rows for s in (r.utc_second_from, r.utc_second_to - 1)
                  for p in (r.prompt_tokens_from, (r.prompt_tokens_to or r.prompt_tokens_from + 1) - 1)}
        for day, second, prompt in probes:
            hits = [r for r in rows if r.valid_from <= day < r.valid_to and r.utc_second_from <= second
                    < r.utc_second_to and r.prompt_tokens_from <= prompt
                    and (r.prompt_tokens_to is None or prompt < r.prompt_tokens_to)]
            assert len(hits) == 1, (key, day, second, prompt, hits)


def test_deepseek_is_off_peak_only_in_its_window_and_tiers_apply_to_the_whole_prompt():
    rows = {(r.provider_id, r.model_ref, r.utc_second_from, r.prompt_tokens_from): r for r in price_rows()}
    noon = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
    evening = dt.datetime(2026, 11, 20, 20, tzinfo=dt.UTC)
    standard = [r for (p, m, s, _), r in rows.items() if (p, m) == ("deepseek", "deepseek-chat")
                and r.utc_second_from <= 12 * 3600 < r.utc_second_to][0]
    off_peak = [r for (p, m, s, _), r in rows.items() if (p, m) == ("deepseek", "deepseek-chat")
                and r.utc_second_from <= 20 * 3600 < r.utc_second_to][0]
    for row, at in ((standard, noon), (off_peak, evening)):
        want = calc_price(Usage(input_tokens=1000, output_tokens=1000), "deepseek-chat", provider_id="deepseek",
                          genai_request_timestamp=at).total_price
        assert row.cost(1000, 0, 0, 1000, 0) == want
    assert off_peak.input_usd_per_mtok < standard.input_usd_per_mtok

    long_prompt = [r for (p, m, s, t), r in rows.items() if (p, m) == ("anthropic", "claude-sonnet-4-5") and t > 0][0]
    want = calc_price(Usage(input_tokens=300_000, output_tokens=10), "claude-sonnet-4-5",
                      provider_id="anthropic").total_price
    assert long_prompt.prompt_tokens_from == 200_001
    assert long_prompt.cost(300_000, 0, 0, 10, 0) == want
