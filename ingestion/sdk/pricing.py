"""The producer's cost estimate for one call, from genai-prices, fast enough for the caller's thread.

genai-prices takes ~50 microseconds per `calc_price` (Decimal arithmetic and model matching), more than
the SDK's whole per-event budget. Prices are linear in each token kind unless the model has tiered
prices, so for each (provider, model, UTC day) we ask genai-prices once for its per-token rates and then
price with four float multiplications. Tiered models always go through `calc_price`. A test checks the
fast path against `calc_price` on many usages.

Token semantics follow the contract: `prompt_tokens` INCLUDES cached (cache-read) and cache-write tokens,
which is also what genai-prices expects in `input_tokens`.
"""

from __future__ import annotations

import datetime as dt
import threading
import warnings
from dataclasses import dataclass

from genai_prices import Usage, calc_price
from genai_prices.types import TieredPrices

_DAY_MS = 86_400_000
_PROBE = 1_000_000  # tokens per probe: per-token rates come out exact to the USD per MTok price


@dataclass(frozen=True)
class Rates:
    """USD per token for each token kind, for one model on one day (models without tiered prices)."""

    input: float
    cache_read: float
    cache_write: float
    output: float


_UNKNOWN = object()  # cache marker: genai-prices does not know the model
_TIERED = object()  # cache marker: prices depend on the size of the call
_cache: dict[tuple[str | None, str, int], object] = {}
_lock = threading.Lock()


def _usage(prompt: int, cached: int, cache_write: int, completion: int) -> Usage:
    return Usage(input_tokens=prompt, cache_read_tokens=cached, cache_write_tokens=cache_write,
                 output_tokens=completion)


def _when(day: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(day * _DAY_MS / 1000 + 43_200, tz=dt.UTC)  # midday: inside the day


def _calc(model: str, provider: str | None, usage: Usage, when: dt.datetime) -> float:
    with warnings.catch_warnings():
        # genai-prices warns (not raises) on usage keys a model does not price: they cost nothing there.
        warnings.simplefilter("ignore")
        return float(calc_price(usage, model, provider_id=provider, genai_request_timestamp=when).total_price)


def _rates(model: str, provider: str | None, day: int) -> object:
    key = (provider, model, day)
    found = _cache.get(key)
    if found is not None:
        return found
    when = _when(day)
    try:
        calc = calc_price(_usage(1, 0, 0, 1), model, provider_id=provider, genai_request_timestamp=when)
    except LookupError:
        found = _UNKNOWN
    else:
        if any(isinstance(v, TieredPrices) for v in calc.model_price.__dict__.values()):
            found = _TIERED
        else:
            found = Rates(input=_calc(model, provider, _usage(_PROBE, 0, 0, 0), when) / _PROBE,
                          cache_read=_calc(model, provider, _usage(_PROBE, _PROBE, 0, 0), when) / _PROBE,
                          cache_write=_calc(model, provider, _usage(_PROBE, 0, _PROBE, 0), when) / _PROBE,
                          output=_calc(model, provider, _usage(0, 0, 0, _PROBE), when) / _PROBE)
    with _lock:
        if len(_cache) > 4096:  # bounded: a long-running process sees many days, few models
            _cache.clear()
        _cache[key] = found
    return found


def estimate_cost_usd(model: str, prompt_tokens: int | None, completion_tokens: int | None, *,
                      cached_tokens: int = 0, cache_write_tokens: int = 0, provider: str | None = None,
                      timestamp_ms: int | None = None) -> float | None:
    """Cost of one call in USD from genai-prices, or None when it cannot be known.

    None (never an exception, never zero) when the model is unknown to genai-prices or a token count is
    missing: a call without tokens has an unknown cost, not a zero one (docs/contract.md).
    """
    if prompt_tokens is None or completion_tokens is None or not model:
        return None
    day = (timestamp_ms if timestamp_ms is not None else int(dt.datetime.now(dt.UTC).timestamp() * 1000))
    day //= _DAY_MS
    rates = _rates(model, provider, day)
    if rates is _UNKNOWN:
        return None
    cached, written = cached_tokens or 0, cache_write_tokens or 0
    if isinstance(rates, Rates):
        uncached = max(prompt_tokens - cached - written, 0)
        return (uncached * rates.input + cached * rates.cache_read + written * rates.cache_write
                + completion_tokens * rates.output)
    try:
        return _calc(model, provider, _usage(prompt_tokens, cached, written, completion_tokens), _when(day))
    except (LookupError, ValueError):
        return None
