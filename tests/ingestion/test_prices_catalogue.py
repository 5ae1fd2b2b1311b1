"""Every call priced exactly as genai-prices prices it, across its whole installed catalogue.

For every provider and every model with a text-token price, calls of several shapes (plain, cached,
cache writes with reasoning, a long prompt past the tiers) at several UTC times of day (and, for dated
prices, before the newest start date) are landed as native events with the provider named, and once
more with no provider. After one real `aiw run`, each call's cost_usd must equal
`calc_price(...).total_price` at the event's time to 1e-9 relative; a call `calc_price` cannot price
must be unpriced (null cost, cost_source unknown), never priced by a guess.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal

import duckdb
import pytest
from genai_prices import Usage, calc_price, data
from genai_prices.types import ModelPrice

from ingestion.layout import Layout
from orchestration.cli import main
from tests.conftest import END_DATE, event, write_landing

# (name, prompt, cached, cache_write, completion, reasoning); cached and cache writes inside the prompt,
# reasoning inside the completion, as events report them.
SHAPES = {
    "plain": (1_000, 0, 0, 500, 0),
    "cached": (1_000, 400, 0, 300, 0),
    "cache_write": (2_000, 500, 700, 200, 50),
    "long_prompt": (300_000, 20_000, 10_000, 1_000, 300),
}
TIMES = (dt.time(3, 0), dt.time(12, 0), dt.time(20, 0))  # DeepSeek: standard, standard, off-peak
EARLY_DAY = dt.date(2025, 6, 1)  # before the start dates of dated prices


def _has_text_price(model) -> bool:
    prices = [model.prices] if isinstance(model.prices, ModelPrice) else [c.prices for c in model.prices]
    return any(getattr(p, "input_mtok", None) is not None or getattr(p, "output_mtok", None) is not None
               for p in prices)


def _constraints(model) -> set[str]:
    if isinstance(model.prices, ModelPrice):
        return set()
    return {type(c.constraint).__name__ for c in model.prices if c.constraint is not None}


def _model_string(model) -> str:
    """A name the model answers to: its id, else the first exact name or prefix in its match rule."""
    if model.is_match(model.id):
        return model.id
    pending = [model.match]
    while pending:
        clause = pending.pop(0)
        for value in (getattr(clause, "equals", None), getattr(clause, "starts_with", None)):
            if value and model.is_match(value):
                return value
        pending += [*(getattr(clause, "or_", None) or []), *(getattr(clause, "and_", None) or [])]
    return model.id  # genai-prices cannot be asked for this model by any simple name: stays unpriced


def catalogue_calls() -> list[dict]:
    """The calls to land: (provider or None, model string, shape, UTC instant) for the whole catalogue."""
    calls = []
    for provider in data.providers:
        for model in provider.models:
            if not _has_text_price(model):
                continue
            constraints = _constraints(model)
            plan = [(shape, END_DATE, at) for shape, at in zip(SHAPES, (*TIMES, TIMES[1]), strict=True)]
            if "TimeOfDateConstraint" in constraints:
                plan = [(shape, END_DATE, at) for shape in SHAPES for at in TIMES]
            if "StartDateConstraint" in constraints:
                plan += [(shape, EARLY_DAY, TIMES[1]) for shape in ("plain", "long_prompt")]
            for shape, day, at in plan:
                calls.append({"provider": provider.id, "model": _model_string(model), "shape": shape,
                              "when": dt.datetime.combine(day, at, tzinfo=dt.UTC)})
            # The same model named without a provider: genai-prices picks the provider from the name.
            calls.append({"provider": None, "model": _model_string(model), "shape": "cache_write",
                          "when": dt.datetime.combine(END_DATE, TIMES[2], tzinfo=dt.UTC)})
    return calls


def expected_cost(call: dict) -> tuple[float | None, str | None, str | None, str]:
    """(cost, provider id, model id, why unpriced) from genai-prices' own calculator."""
    prompt, cached, written, completion, reasoning = SHAPES[call["shape"]]
    usage = Usage(input_tokens=prompt, cache_read_tokens=cached, cache_write_tokens=written,
                  output_tokens=completion, output_reasoning_tokens=reasoning)
    try:
        price = calc_price(usage, call["model"], provider_id=call["provider"], genai_request_timestamp=call["when"])
    except LookupError as error:
        return None, None, None, f"LookupError: {str(error).split(' with ')[0].split(' in ')[0]}"
    except ValueError as error:
        return None, None, None, f"ValueError: {error}"
    return float(price.total_price), price.provider.id, price.model.id, ""


@pytest.fixture(scope="module")
def priced(tmp_path_factory):
    layout = Layout.from_env(tmp_path_factory.mktemp("catalogue") / "aiw").ensure()
    calls = catalogue_calls()
    events = []
    for i, call in enumerate(calls):
        prompt, cached, written, completion, reasoning = SHAPES[call["shape"]]
        record = event(i, event_id=f"c{i}", model_id=call["model"], model_version=call["model"],
                       timestamp=int(call["when"].timestamp() * 1000), prompt_tokens=prompt,
                       cached_tokens=cached, cache_write_tokens=written, completion_tokens=completion,
                       reasoning_tokens=reasoning, estimated_cost_usd=None)
        if call["provider"] is not None:
            record["provider"] = call["provider"]
        events.append(record)
    write_landing(layout, "catalogue.ndjson", events)
    assert main(["--home", str(layout.home), "run"]) == 0
    con = duckdb.connect(str(layout.warehouse), read_only=True)
    rows = {r[0]: r[1:] for r in con.execute(
        "select event_id, cost_usd, cost_source, resolved_provider_id, resolved_model_ref, unpriced_reason "
        "from marts.fct_ai_interactions").fetchall()}
    con.close()
    return calls, rows


def test_every_catalogue_call_costs_what_calc_price_says(priced):
    calls, rows = priced
    assert len(rows) == len(calls)
    exact, unpriced, wrong = 0, Counter(), []
    for i, call in enumerate(calls):
        cost, source, provider_id, model_ref, reason = rows[f"c{i}"]
        want, want_provider, want_model, why = expected_cost(call)
        if want is None:
            unpriced[("provider named: " if call["provider"] else "no provider: ") + why] += 1
            if (cost, source) != (None, "unknown") or not reason:
                wrong.append((call, "expected unpriced", why, cost, source, reason))
        elif (source != "price_table" or cost is None or abs(cost - want) > 1e-9 * abs(want)
              or (provider_id, model_ref) != (want_provider, want_model)):
            wrong.append((call, want, want_provider, want_model, cost, source, provider_id, model_ref, reason))
        else:
            exact += 1
    print(f"\ncatalogue: {len(calls)} calls over {len({(c['provider'], c['model']) for c in calls})} "
          f"(provider, model) pairs; {exact} priced exactly as calc_price; {sum(unpriced.values())} unpriced")
    for why, n in unpriced.most_common():
        print(f"  unpriced {n}: {why}")
    assert not wrong, f"{len(wrong)} calls differ from calc_price, e.g. {wrong[:5]}"
    # Most of the catalogue is priceable by its own model id (a sanity floor: the walk is not vacuous).
    named = sum(1 for c in calls if c["provider"] is not None)
    assert exact > 0.85 * named


def test_the_catalogue_covers_tiers_time_of_day_cache_writes_and_fees(priced):
    """The walk really exercises every price component (else the exactness test proves little)."""
    calls, rows = priced
    by_key: dict[tuple, dict] = {}
    for i, call in enumerate(calls):
        by_key[(call["provider"], call["model"], call["shape"], call["when"])] = rows[f"c{i}"]

    def cost(provider, model, shape, day=END_DATE, at=TIMES[1]):
        return by_key[(provider, model, shape, dt.datetime.combine(day, at, tzinfo=dt.UTC))][0]

    # Perplexity sonar: $1/MTok both ways plus a per-request fee.
    assert cost("perplexity", "sonar", "plain", at=TIMES[0]) == pytest.approx(
        float(calc_price(Usage(input_tokens=1000, output_tokens=500), "sonar", provider_id="perplexity",
                         genai_request_timestamp=dt.datetime.combine(END_DATE, TIMES[0], tzinfo=dt.UTC))
              .total_price), rel=1e-9)
    assert cost("perplexity", "sonar", "plain", at=TIMES[0]) > 1500 * 1e-6 * 2
    # DeepSeek: off-peak at 20:00 UTC is cheaper than the standard price at 12:00.
    assert cost("deepseek", "deepseek-chat", "plain", at=TIMES[2]) < cost("deepseek", "deepseek-chat", "plain")
    # A 300k-token prompt to claude-sonnet-4-5 crosses the 200k tier: every token at the higher rate.
    long = Decimal(cost("anthropic", "claude-sonnet-4-5", "long_prompt"))
    base = (270_000 * Decimal(3) + 20_000 * Decimal("0.3") + 10_000 * Decimal("3.75") + 1_000 * Decimal(15)) / 10**6
    assert long > base * Decimal("1.4")
    # Cache writes are not charged as plain input on Anthropic.
    written = cost("anthropic", "claude-sonnet-4-5", "cache_write", at=TIMES[2])
    as_input = (1_500 * 3 + 500 * 0.3 + 200 * 15) / 1e6
    assert written == pytest.approx(as_input + 700 * (3.75 - 3) / 1e6, rel=1e-9)


def test_calls_naming_no_provider_get_the_provider_genai_prices_picks(priced):
    calls, rows = priced
    checked = 0
    for i, call in enumerate(calls):
        if call["provider"] is not None:
            continue
        _cost, _source, provider_id, model_ref, reason = rows[f"c{i}"]
        _want, want_provider, want_model, why = expected_cost(call)
        assert (provider_id, model_ref) == (want_provider, want_model), (call, reason)
        assert (reason is None) == (why == ""), (call, reason, why)
        checked += 1
    assert checked > 1000
