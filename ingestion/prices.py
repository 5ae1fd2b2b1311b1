"""Prices as genai-prices computes them: the price table (a dbt seed) and the model resolution.

The warehouse prices every interaction in dbt (so a price fix re-prices history on the next build)
from two pieces of data, both taken from the genai-prices snapshot installed here:

1. **The price table**, `dbt_project/seeds/model_prices.csv`, written by `aiw prices export`: every
   provider and every model that has a text-token price, one row per (provider, model, date period,
   UTC time-of-day window, prompt-size tier), with the rate each kind of token is charged:

   - `valid_from` (inclusive) / `valid_to` (exclusive) UTC dates: genai-prices' start-date constraints
     (open ends are 2000-01-01 and 9999-12-31);
   - `utc_second_from` (inclusive) / `utc_second_to` (exclusive): the UTC time-of-day window in seconds
     since midnight (0 and 86400 for all day), from time-of-day constraints (DeepSeek's off-peak hours);
   - `prompt_tokens_from` (inclusive) / `prompt_tokens_to` (exclusive, empty for no end): the tier.
     genai-prices tiers are cliffs on the whole prompt: a prompt of more than `start` input tokens
     pays the tier's rate on every token of that kind (not only on the tokens above it), and each
     token kind has its own tiers;
   - rates in USD per million tokens for uncached input, cache reads, cache writes, output and
     reasoning output, and `request_usd`, a fee per call.

   Which price applies at an instant is genai-prices' own choice: for every cell of dates, times and
   tiers the export asks `ModelInfo.get_prices` at that instant, so the order of conditional prices
   (the last active one wins; none active means the first) is kept. A token kind without its own
   price is charged as genai-prices charges it, at its parent's rate: cache reads and cache writes at
   the input rate, reasoning at the output rate. Every row is checked against genai-prices'
   `ModelPrice.calc_price` on a sample call before it is written. Price variants chosen by request
   context (a service tier) are not used: events carry no such context, and `calc_price` without a
   `price_context` does not use them either. Models priced in no text-token unit (images, audio
   seconds, searches only) have no rows: their calls stay unpriced.

2. **The model resolution**, `<lake>/prices/model_resolution/resolution.parquet`, written by
   `resolve_lake_models` right before every dbt build (and by `aiw prices resolve`): for each distinct
   (provider, model_id, model_version) in the lake, the provider and model genai-prices' own lookup
   (`DataSnapshot.find_provider_model`, the function `calc_price` calls) picks, or why it picks none.
   The model string asked is the first of `model_id-model_version`, `model_version`, `model_id` that
   genai-prices knows (a version that already starts with the model id is asked as it is): the dated
   snapshot name is the most specific one, and it is what `calc_price` callers pass (the response's
   model). The event's provider is passed as `provider_id`; without one, genai-prices picks the
   provider from the model name.

Negotiated or custom prices go in `dbt_project/seeds/price_overrides.csv`, which wins over this table.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ingestion.sql import quote_path

OPEN_START = dt.date(2000, 1, 1)
OPEN_END = dt.date(9999, 12, 31)
DAY_SECONDS = 86_400
MTOK = 1_000_000
COLUMNS = ["provider_id", "model_ref", "valid_from", "valid_to", "utc_second_from", "utc_second_to",
           "prompt_tokens_from", "prompt_tokens_to", "input_usd_per_mtok", "cache_read_usd_per_mtok",
           "cache_write_usd_per_mtok", "output_usd_per_mtok", "reasoning_usd_per_mtok", "request_usd"]
# genai-prices price keys of the token kinds an event reports, and the usage keys they are charged on.
TOKEN_PRICE_KEYS = ("input_mtok", "cache_read_mtok", "cache_write_mtok", "output_mtok", "output_reasoning_mtok")
REQUEST_PRICE_KEY = "requests_kcount"
RESOLUTION_COLUMNS = ["provider", "model_id", "model_version", "matched_model", "resolved_provider_id",
                      "price_provider_id", "model_ref", "unresolved_reason", "catalogue"]


@dataclass(frozen=True)
class PriceRow:
    """One price cell: a provider's model, over a date period, a UTC time window and a prompt-size tier."""

    provider_id: str
    model_ref: str
    valid_from: dt.date
    valid_to: dt.date
    utc_second_from: int
    utc_second_to: int
    prompt_tokens_from: int
    prompt_tokens_to: int | None
    input_usd_per_mtok: Decimal
    cache_read_usd_per_mtok: Decimal
    cache_write_usd_per_mtok: Decimal
    output_usd_per_mtok: Decimal
    reasoning_usd_per_mtok: Decimal
    request_usd: Decimal

    def cost(self, prompt: int, cached: int, cache_write: int, completion: int, reasoning: int) -> Decimal:
        """The call's cost from this row (what dbt computes, in Decimal)."""
        return ((prompt - cached - cache_write) * self.input_usd_per_mtok + cached * self.cache_read_usd_per_mtok
                + cache_write * self.cache_write_usd_per_mtok + (completion - reasoning) * self.output_usd_per_mtok
                + reasoning * self.reasoning_usd_per_mtok) / MTOK + self.request_usd


def catalogue_version() -> str:
    """Which genai-prices snapshot prices and resolutions come from (fingerprinted by dbt)."""
    import genai_prices

    return f"genai-prices {genai_prices.__version__}"


def _seconds(value: dt.time) -> int:
    """Seconds since UTC midnight of a constraint time (naive times are UTC, as in genai-prices)."""
    if value.tzinfo is not None:
        value = dt.datetime.combine(dt.date(1970, 1, 1), value).astimezone(dt.UTC).time()
    if value.microsecond:
        raise ValueError(f"time-of-day price boundary {value} is not a whole second")
    return value.hour * 3600 + value.minute * 60 + value.second


def _cells(model: Any) -> list[tuple[dt.date, dt.date, int, int]]:
    """(date from, date to, second from, second to) cells inside which no price constraint changes."""
    dates, seconds = {OPEN_START, OPEN_END}, {0, DAY_SECONDS}
    for conditional in model.prices if isinstance(model.prices, list) else ():
        constraint = conditional.constraint
        if constraint is None:
            continue
        if hasattr(constraint, "start_date"):
            dates.add(max(constraint.start_date, OPEN_START))
        elif hasattr(constraint, "start_time"):
            seconds.update((_seconds(constraint.start_time), _seconds(constraint.end_time)))
        else:
            raise ValueError(f"{model.id}: unknown price constraint {constraint!r}")
    d, s = sorted(dates), sorted(seconds - {DAY_SECONDS}) + [DAY_SECONDS]
    return [(d[i], d[i + 1], s[j], s[j + 1]) for i in range(len(d) - 1) for j in range(len(s) - 1)]


def _tier_starts(model_price: Any) -> list[int]:
    """Prompt sizes (inclusive) where any token rate changes: genai-prices' tier starts + 1."""
    from genai_prices.types import TieredPrices

    starts = {0}
    for key in (*TOKEN_PRICE_KEYS, REQUEST_PRICE_KEY):
        value = getattr(model_price, key, None)
        if isinstance(value, TieredPrices):
            starts.update(tier.start + 1 for tier in value.tiers)  # a tier applies above its start
    return sorted(starts)


def _rates(model_price: Any, prompt_tokens: int) -> dict[str, Decimal] | None:
    """Effective rates of each token kind for a prompt of this size, or None without text-token prices."""
    from genai_prices.types import calc_unit_price
    from genai_prices.units import _get_registry

    registry = _get_registry()

    def rate(key: str) -> Decimal | None:
        value = getattr(model_price, key, None)
        if value is None:
            return None
        per = registry.unit_for_price_key(key).per
        # genai-prices' own per-unit arithmetic (and tier choice), for one unit of `per` tokens.
        return calc_unit_price(value, per, prompt_tokens, per)

    inp, out = rate("input_mtok"), rate("output_mtok")
    if inp is None and out is None:
        return None
    inp, out = inp or Decimal(0), out or Decimal(0)  # an unpriced kind costs nothing in genai-prices
    cache_read, cache_write = rate("cache_read_mtok"), rate("cache_write_mtok")
    reasoning = rate("output_reasoning_mtok")
    request = getattr(model_price, REQUEST_PRICE_KEY, None)
    return {
        "input_usd_per_mtok": inp,
        # Without a price of their own, these tokens stay in their parent's count (genai-prices charges
        # the leaf left after subtracting priced children): cache reads and writes at the input rate.
        "cache_read_usd_per_mtok": inp if cache_read is None else cache_read,
        "cache_write_usd_per_mtok": inp if cache_write is None else cache_write,
        "output_usd_per_mtok": out,
        "reasoning_usd_per_mtok": out if reasoning is None else reasoning,
        "request_usd": Decimal(0) if request is None else calc_unit_price(
            request, 1, prompt_tokens, registry.unit_for_price_key(REQUEST_PRICE_KEY).per),
    }


def _check(row: PriceRow, model_price: Any) -> None:
    """The row must price a sample call in its tier exactly as genai-prices does."""
    from genai_prices import Usage

    prompt = row.prompt_tokens_from if row.prompt_tokens_from else 1000
    if row.prompt_tokens_to is not None and prompt >= row.prompt_tokens_to:
        prompt = row.prompt_tokens_to - 1
    cached, written, completion, reasoning = prompt // 4, prompt // 8, 777, 100
    expected = model_price.calc_price(Usage(input_tokens=prompt, cache_read_tokens=cached,
                                            cache_write_tokens=written, output_tokens=completion,
                                            output_reasoning_tokens=reasoning))["total_price"]
    got = row.cost(prompt, cached, written, completion, reasoning)
    if abs(got - expected) > abs(expected) * Decimal("1e-20"):
        raise ValueError(f"{row.provider_id}/{row.model_ref}: exported rates give {got}, genai-prices {expected}")


def price_rows() -> list[PriceRow]:
    """Every text-token price cell of the installed genai-prices snapshot, checked against it."""
    from genai_prices import data

    rows: list[PriceRow] = []
    for provider in data.providers:
        for model in provider.models:
            for date_from, date_to, second_from, second_to in _cells(model):
                at = dt.datetime.combine(date_from, dt.time(), tzinfo=dt.UTC) + dt.timedelta(seconds=second_from)
                model_price = model.get_prices(at)  # genai-prices' choice among conditional prices
                starts = _tier_starts(model_price)
                for i, tokens_from in enumerate(starts):
                    rates = _rates(model_price, tokens_from)
                    if rates is None:
                        continue
                    row = PriceRow(provider.id, model.id, date_from, date_to, second_from, second_to, tokens_from,
                                   starts[i + 1] if i + 1 < len(starts) else None, **rates)
                    _check(row, model_price)
                    rows.append(row)
    return _merge_time_windows(rows)


def _merge_time_windows(rows: list[PriceRow]) -> list[PriceRow]:
    """Join neighbouring time windows with the same rates (fewer rows, same prices)."""
    merged: list[PriceRow] = []
    key = lambda r: (r.provider_id, r.model_ref, r.valid_from, r.prompt_tokens_from, r.utc_second_from)  # noqa: E731
    for row in sorted(rows, key=key):
        last = merged[-1] if merged else None
        if (last is not None and (last.provider_id, last.model_ref, last.valid_from, last.prompt_tokens_from)
                == (row.provider_id, row.model_ref, row.valid_from, row.prompt_tokens_from)
                and last.utc_second_to == row.utc_second_from
                and _rate_values(last) == _rate_values(row) and last.prompt_tokens_to == row.prompt_tokens_to):
            merged[-1] = PriceRow(**{**last.__dict__, "utc_second_to": row.utc_second_to})
        else:
            merged.append(row)
    return merged


def _rate_values(row: PriceRow) -> tuple[Decimal, ...]:
    return (row.input_usd_per_mtok, row.cache_read_usd_per_mtok, row.cache_write_usd_per_mtok,
            row.output_usd_per_mtok, row.reasoning_usd_per_mtok, row.request_usd)


def export_seed(path: Path) -> int:
    """Write the price table as a dbt seed CSV; returns the number of rows."""
    rows = sorted(price_rows(), key=lambda r: (r.provider_id, r.model_ref, r.valid_from, r.utc_second_from,
                                               r.prompt_tokens_from))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for r in rows:
            writer.writerow([r.provider_id, r.model_ref, r.valid_from, r.valid_to, r.utc_second_from,
                             r.utc_second_to, r.prompt_tokens_from,
                             "" if r.prompt_tokens_to is None else r.prompt_tokens_to,
                             *(_plain(v) for v in _rate_values(r))])
    return len(rows)


def _plain(value: Decimal) -> str:
    """A Decimal without exponent notation (CSV readers parse 0.0000015, not always 1.5E-6)."""
    return format(value.normalize(), "f")


# ---------------------------------------------------------------------------------------------------
# Model resolution


@dataclass(frozen=True)
class Resolution:
    """What genai-prices makes of one (provider, model_id, model_version) seen in events."""

    provider: str | None
    model_id: str | None
    model_version: str | None
    matched_model: str | None  # the model string genai-prices recognised
    resolved_provider_id: str | None  # the provider calc_price reports
    price_provider_id: str | None  # the provider whose model list holds the price (Azure -> openai)
    model_ref: str | None  # genai-prices model id
    unresolved_reason: str | None


def candidate_model_strings(model_id: str | None, model_version: str | None) -> list[str]:
    """Model strings to ask genai-prices, most specific first (see the module docstring)."""
    model_id, model_version = (model_id or "").strip(), (model_version or "").strip()
    out: list[str] = []
    if model_version and model_id and not model_version.lower().startswith(model_id.lower()):
        out.append(f"{model_id}-{model_version}")
    out += [s for s in (model_version, model_id) if s]
    return list(dict.fromkeys(out))


def resolve(provider: str | None, model_id: str | None, model_version: str | None) -> Resolution:
    """genai-prices' provider and model for an event, by the lookup `calc_price` itself runs."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    owners = _model_owners(id(snapshot))
    provider_id = provider.strip() if provider and provider.strip() else None
    reason = "no model name"
    for model_string in candidate_model_strings(model_id, model_version):
        try:
            found_provider, model = snapshot.find_provider_model(model_string, None, provider_id, None)
        except LookupError as error:
            reason = f"genai-prices: {error}"
            if provider_id is not None and "Unable to find provider" in str(error):
                break  # the provider is unknown: no model string changes that
            continue
        return Resolution(provider, model_id, model_version, model_string, found_provider.id,
                          owners.get(id(model), found_provider.id), model.id, None)
    return Resolution(provider, model_id, model_version, None, None, None, None, reason)


_OWNERS: dict[int, dict[int, str]] = {}


def _model_owners(snapshot_id: int) -> dict[int, str]:
    """id(ModelInfo) -> id of the provider that lists it (a fallback provider borrows others' models)."""
    if snapshot_id not in _OWNERS:
        from genai_prices import data_snapshot

        _OWNERS.clear()
        _OWNERS[snapshot_id] = {id(m): p.id for p in data_snapshot.get_snapshot().providers for m in p.models}
    return _OWNERS[snapshot_id]


def lake_directory(layout: Any) -> Path:
    """The lake the engines read: AIW_LAKE_URI when it is a local path, else the layout's lake."""
    import os

    uri = os.environ.get("AIW_LAKE_URI", "").strip()
    if uri and "://" in uri:
        raise ValueError(f"AIW_LAKE_URI={uri} is not a local directory: write the model resolution with "
                         "`aiw prices resolve --lake <local copy>` and copy it to <lake>/prices/model_resolution/")
    return Path(uri) if uri else layout.lake


def resolution_path(lake: Path) -> Path:
    """Where the resolution lives: beside the lake data, read by the dbt source `lake.model_resolution`."""
    return lake / "prices" / "model_resolution" / "resolution.parquet"


def resolve_lake_models(lake: Path) -> int:
    """Resolve every distinct (provider, model_id, model_version) in the lake; returns how many.

    Reads only those three columns of the accepted interactions (distinct values: cheap even at 10M
    events), asks genai-prices once per key and writes the whole table afresh (atomically), so a newer
    genai-prices re-resolves history on the next build.
    """
    import duckdb

    raw = lake / "raw" / "interactions"
    con = duckdb.connect()
    try:
        keys: list[tuple[Any, ...]] = []
        if any(raw.rglob("*.parquet")):
            keys = con.execute(
                "select distinct provider, model_id, model_version from "
                f"read_parquet({quote_path(raw / '**' / '*.parquet')}, "
                "hive_partitioning = true, union_by_name = true)").fetchall()
        version = catalogue_version()
        resolved = [(*resolve(*key).__dict__.values(), version) for key in keys]
        target = resolution_path(lake)
        target.parent.mkdir(parents=True, exist_ok=True)
        con.execute("create table resolution (provider varchar, model_id varchar, model_version varchar, "
                    "matched_model varchar, resolved_provider_id varchar, price_provider_id varchar, "
                    "model_ref varchar, unresolved_reason varchar, catalogue varchar)")
        if resolved:
            con.executemany("insert into resolution values (?, ?, ?, ?, ?, ?, ?, ?, ?)", resolved)
        partial = target.with_name(target.name + ".partial")
        con.execute(f"copy resolution to {quote_path(partial)} (format parquet)")
        partial.replace(target)
        return len(resolved)
    finally:
        con.close()
