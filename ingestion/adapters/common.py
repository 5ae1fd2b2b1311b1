"""Helpers every adapter shares: scrubbing whole records, pseudonymous user ids, content hashes, units."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import orjson

from ingestion.pii import maybe_pii, scrub

# Source values whose canonical field is the same kind are passed through untouched when they have the
# wrong type (a string latency, say): the contract then quarantines the record with the rule it breaks,
# instead of the adapter guessing or crashing.
Number = int | float


# Scrub results of values seen before: models, providers and features repeat on every record. Bounded,
# because ids never repeat and would only fill it.
_SCRUBBED: dict[str, str] = {}
_SCRUBBED_MAX = 20_000


def scrub_record(record: dict[str, Any]) -> dict[str, Any]:
    """The record with every string value scrubbed of PII and null values left out."""
    out: dict[str, Any] = {}
    values: list[str] = []
    for key, value in record.items():
        if value is None:
            continue
        out[key] = value
        if value.__class__ is str:
            values.append(value)
    # One cheap check over all strings (NUL cannot join two halves of a pattern); most records stop here.
    if values and maybe_pii("\x00".join(values)):
        for key, value in out.items():
            if value.__class__ is str:
                clean = _SCRUBBED.get(value)
                if clean is None:
                    clean = scrub(value)
                    if len(_SCRUBBED) < _SCRUBBED_MAX:
                        _SCRUBBED[value] = clean
                out[key] = clean
    return out


def pseudonymous_id(value: Any) -> Any:
    """A user id safe to store: unchanged when it holds no PII, else a stable hash of it.

    Scrubbing alone would turn every e-mail address used as an id into the same "[email]" and merge those
    users; an (unkeyed) hash keeps them apart without keeping the address.
    """
    if not isinstance(value, str) or scrub(value) == value:
        return value
    return "anon-" + hashlib.blake2b(value.encode("utf-8", "replace"), digest_size=10).hexdigest()


def content_hash(value: Any) -> str | None:
    """A hash of message content (a string or any JSON value), so the text itself is never kept."""
    if value is None:
        return None
    data = value.encode("utf-8", "replace") if isinstance(value, str) else orjson.dumps(
        value, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def seconds_to_ms(value: Any) -> Any:
    """Seconds -> milliseconds for numbers; anything else is returned for the contract to judge."""
    return value * 1000.0 if is_number(value) else value


def iso_to_epoch_ms(value: Any) -> Any:
    """An ISO-8601 time (naive means UTC) or epoch milliseconds -> epoch ms; otherwise the value unchanged."""
    if is_number(value):
        return int(value)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return int(parsed.timestamp() * 1000)
    return value
