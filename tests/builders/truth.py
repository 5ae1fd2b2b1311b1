"""Expected mart values computed in plain Python from what the generator wrote.

Nothing here reads the lake or the warehouse, and nothing reuses the dbt SQL: prices come from
genai-prices' own calculator, percentiles from the standard library, quality from the producers'
formula. Tests compare the marts with these numbers.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from functools import cache
from typing import Any

from genai_prices import Usage, calc_price

from ingestion.contract.quality import producer_quality
from ingestion.synthetic import CACHE_HIT_COST_RATIO, MODELS

SESSION_BUDGET = 0.50
USER_BUDGET_7D = 20.0
SLO_TTFT_MS = 1500.0
SLO_MIN_CALLS = 20


@cache
def _rates(model: str) -> tuple[float, float, float]:
    """(input, cached input, output) USD per token, asked of genai-prices with unit usages."""
    provider = MODELS[model][0]

    def price(**usage: int) -> float:
        return float(calc_price(Usage(**usage), model, provider_id=provider).total_price)

    per_m = 1_000_000
    return (price(input_tokens=per_m) / per_m, price(input_tokens=per_m, cache_read_tokens=per_m) / per_m,
            price(output_tokens=per_m) / per_m)


def cost(r: dict[str, Any]) -> float:
    """What genai-prices charges for the call; cache-routed calls at the cache-hit ratio."""
    if r["prompt_tokens"] < 200_000:
        total = float(calc_price(Usage(input_tokens=r["prompt_tokens"], cache_read_tokens=r["cached_tokens"],
                                       output_tokens=r["completion_tokens"]),
                                 r["model_id"], provider_id=MODELS[r["model_id"]][0]).total_price)
    else:  # same arithmetic, without asking for every call
        inp, cached, out = _rates(r["model_id"])
        total = (r["prompt_tokens"] - r["cached_tokens"]) * inp + r["cached_tokens"] * cached \
            + r["completion_tokens"] * out
    return total * (CACHE_HIT_COST_RATIO if r["routing_strategy"] == "cache" else 1.0)


def day_of(r: dict[str, Any]) -> dt.date:
    return dt.datetime.fromtimestamp(r["timestamp"] / 1000, tz=dt.UTC).date()


def hour_of(r: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromtimestamp(r["timestamp"] / 1000, tz=dt.UTC).replace(
        minute=0, second=0, microsecond=0, tzinfo=None)


def merged(records: list[dict], feedback: list[dict]) -> list[dict]:
    """Interactions with later feedback applied (latest rating wins)."""
    ratings: dict[str, tuple[int, str]] = {}
    for f in feedback:
        if f["kind"] == "rating" and (f["target_event_id"] not in ratings
                                      or f["timestamp"] > ratings[f["target_event_id"]][0]):
            ratings[f["target_event_id"]] = (f["timestamp"], f["rating"])
    out = []
    for r in records:
        m = dict(r)
        if r["event_id"] in ratings:
            m["explicit_rating"] = ratings[r["event_id"]][1]
        m["quality"] = producer_quality(m["user_regenerated"], m["user_edited_output"], m["total_latency_ms"],
                                        m["prompt_tokens"], m["completion_tokens"])
        out.append(m)
    return out


def sessions(records: list[dict]) -> dict[str, tuple[int, int, float]]:
    """session_id -> (calls, tokens, cost)."""
    acc: dict[str, list] = defaultdict(lambda: [0, 0, 0.0])
    for r in records:
        s = acc[r["session_id"]]
        s[0] += 1
        s[1] += r["prompt_tokens"] + r["completion_tokens"]
        s[2] += cost(r)
    return {k: (n, t, c) for k, (n, t, c) in acc.items()}


def users_over_7d_budget(records: list[dict]) -> set[tuple[str, dt.date]]:
    """(user, first day of each run of days whose 7-day cost is over budget)."""
    daily: dict[str, dict[dt.date, float]] = defaultdict(lambda: defaultdict(float))
    for r in records:
        daily[r["user_id"]][day_of(r)] += cost(r)
    starts = set()
    for user, days in daily.items():
        was_over = False
        for day in sorted(days):
            total = sum(c for d, c in days.items() if day - dt.timedelta(days=6) <= d <= day)
            over = total > USER_BUDGET_7D
            if over and not was_over:
                starts.add((user, day))
            was_over = over
    return starts


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (DuckDB quantile_cont, numpy 'linear')."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def slo_breaches(records: list[dict]) -> set[tuple[str, str, dt.datetime]]:
    """(feature, model, hour) whose p95 TTFT is over the SLO with enough samples."""
    ttfts: dict[tuple, list[float]] = defaultdict(list)
    for r in records:
        ttfts[(r["feature_id"], r["model_id"], hour_of(r))].append(r["ttft_ms"])
    return {k for k, v in ttfts.items() if len(v) >= SLO_MIN_CALLS and percentile(v, 0.95) > SLO_TTFT_MS}


def duplicate_responses(records: list[dict]) -> dict[str, tuple[int, int]]:
    """response_hash -> (occurrences, completion tokens of every repeat after the first)."""
    by_hash: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        if r.get("response_hash"):
            by_hash[r["response_hash"]].append(r)
    out = {}
    for h, rows in by_hash.items():
        if len(rows) > 1:
            rows.sort(key=lambda r: (r["timestamp"], r["event_id"]))
            out[h] = (len(rows), sum(r["completion_tokens"] for r in rows[1:]))
    return out


def cost_by_tag_daily(records: list[dict]) -> dict[tuple[str, str, dt.date], tuple[int, float, float]]:
    """(tag_key, tag_value, day) -> (calls, cost, mean implicit quality) of merged records (sample rate 1)."""
    acc: dict[tuple, list] = defaultdict(lambda: [0, 0.0, 0.0])
    for r in records:
        for key, value in (r.get("tags") or {}).items():
            a = acc[(key, value, day_of(r))]
            a[0] += 1
            a[1] += cost(r)
            a[2] += r["quality"]
    return {k: (n, c, q / n) for k, (n, c, q) in acc.items()}
