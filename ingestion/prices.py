"""The dated model price table, exported from genai-prices as a dbt seed.

The warehouse prices every interaction in dbt (so a price fix re-prices history on the next build)
from `dbt_project/seeds/model_prices.csv`, which `aiw prices export` writes from the genai-prices
snapshot installed here. One row per provider, model match rule and price period:

- `match_type` / `match_value`: how an event's model is recognised, as genai-prices does it
  (`equals` a model name, or `starts_with` a prefix). dbt tries `model_id` and
  `model_id-model_version` and prefers exact matches, then the longest prefix.
- prices in USD per million tokens: input, cached input (cache read) and output. Cached tokens are
  counted inside the input tokens (as genai-prices and the OpenAI usage object do).
- `valid_from` (inclusive) / `valid_to` (exclusive): the period a price applies, from genai-prices'
  start-date constraints; open ends are 2000-01-01 and 9999-12-31.

Only text-token prices are exported; tiered prices use their base tier and time-of-day (off-peak)
prices are left out, so those models are priced at their standard rate. Negotiated or custom prices
go in `dbt_project/seeds/price_overrides.csv`, which wins over this table.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

# Providers whose own models we price by default: the first-party makers. Resellers (Azure, AWS,
# OpenRouter, ...) list the same models, usually at the same price; leaving them out keeps one
# price per model when an event does not say which provider served it.
DEFAULT_PROVIDERS = ("openai", "anthropic", "google", "mistral", "deepseek", "cohere", "meta", "x-ai",
                     "moonshotai", "perplexity", "groq")
OPEN_START = dt.date(2000, 1, 1)
OPEN_END = dt.date(9999, 12, 31)
COLUMNS = ["provider_id", "model_ref", "match_type", "match_value", "input_usd_per_mtok",
           "cached_input_usd_per_mtok", "output_usd_per_mtok", "valid_from", "valid_to"]


@dataclass(frozen=True)
class PriceRow:
    provider_id: str
    model_ref: str
    match_type: str
    match_value: str
    input_usd_per_mtok: Decimal
    cached_input_usd_per_mtok: Decimal
    output_usd_per_mtok: Decimal
    valid_from: dt.date
    valid_to: dt.date


def _match_clauses(logic: Any) -> list[tuple[str, str]]:
    """The (match_type, value) alternatives of a genai-prices match rule we can express as a join."""
    name = type(logic).__name__
    if name == "ClauseEquals":
        return [("equals", logic.equals.lower())]
    if name == "ClauseStartsWith":
        return [("starts_with", logic.starts_with.lower())]
    if name == "ClauseOr":
        return [c for sub in logic.or_ for c in _match_clauses(sub)]
    return []  # regex / contains / and: not expressible as an equality or prefix join


def _base(value: Any) -> Decimal | None:
    """A flat price, or the base tier of a tiered one."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    return getattr(value, "base", None)


def _periods(model: Any) -> list[tuple[dt.date, dt.date, Any]]:
    """(valid_from, valid_to, ModelPrice) periods from a model's flat or start-date-conditional prices."""
    if not isinstance(model.prices, list):
        return [(OPEN_START, OPEN_END, model.prices)]
    dated = []
    for conditional in model.prices:
        constraint = conditional.constraint
        if constraint is None:
            dated.append((OPEN_START, conditional.prices))
        elif type(constraint).__name__ == "StartDateConstraint":
            dated.append((constraint.start_date, conditional.prices))
    dated.sort(key=lambda x: x[0])
    return [(start, dated[i + 1][0] if i + 1 < len(dated) else OPEN_END, prices)
            for i, (start, prices) in enumerate(dated)]


def price_rows(providers: tuple[str, ...] = DEFAULT_PROVIDERS) -> list[PriceRow]:
    """Every exportable price row of the installed genai-prices snapshot."""
    from genai_prices import data

    rows: list[PriceRow] = []
    for provider in data.providers:
        if provider.id not in providers:
            continue
        for model in provider.models:
            clauses = _match_clauses(model.match)
            for valid_from, valid_to, prices in _periods(model):
                inp = _base(getattr(prices, "input_mtok", None))
                out = _base(getattr(prices, "output_mtok", None))
                if inp is None or out is None:
                    continue  # not a text-token model (images, audio, embeddings without output, ...)
                cached = _base(getattr(prices, "cache_read_mtok", None))
                for match_type, value in clauses:
                    rows.append(PriceRow(provider.id, model.id, match_type, value, inp,
                                         cached if cached is not None else inp, out, valid_from, valid_to))
    return rows


def export_seed(path: Path, providers: tuple[str, ...] = DEFAULT_PROVIDERS) -> int:
    """Write the price table as a dbt seed CSV; returns the number of rows."""
    rows = sorted(set(price_rows(providers)), key=lambda r: (r.provider_id, r.model_ref, r.match_value, r.valid_from))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for r in rows:
            writer.writerow([r.provider_id, r.model_ref, r.match_type, r.match_value, r.input_usd_per_mtok,
                             r.cached_input_usd_per_mtok, r.output_usd_per_mtok, r.valid_from, r.valid_to])
    return len(rows)
