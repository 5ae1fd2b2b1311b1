"""Helpers every adapter shares: scrubbing whole records, content hashes, units.

These are the reference semantics; `common_sql` mirrors each one in DuckDB SQL for the loader."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
from collections.abc import Mapping
from typing import Any

import orjson

from ingestion.contract.pii import ID_FIELDS, scrub


def names_from_env(variable: str, default: tuple[str, ...], environ: Mapping[str, str] | None = None
                   ) -> tuple[str, ...]:
    """Comma-separated names from an environment variable (the adapters' feature settings); the default
    when it is unset or holds none."""
    raw = (environ if environ is not None else os.environ).get(variable, "")
    return tuple(n.strip() for n in raw.split(",") if n.strip()) or default


def parse_iso(value: str) -> dt.datetime | None:
    """An ISO-8601 time as an aware datetime (naive means UTC); None when it is not one."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def scrub_record(record: dict[str, Any]) -> dict[str, Any]:
    """The record with every string value but the ids scrubbed of PII and null values left out.

    Ids are left as they are: a placeholder would merge every id holding PII into one, so the contract's
    SQL replaces such an id by a hash keyed per AIW_HOME (`ingestion.contract.pii.scrub_id`), for every source.
    Values of the wrong type are passed through untouched (a string latency, say): the contract then
    quarantines the record with the rule it breaks, instead of the adapter guessing or crashing.
    """
    return {key: scrub(value) if isinstance(value, str) and key not in ID_FIELDS else value
            for key, value in record.items() if value is not None}


def content_hash(value: Any) -> str | None:
    """md5 of message content, so the text itself is never kept: of a string itself, of any other JSON
    value its compact JSON text (keys in the order written; DuckDB writes numbers past 1e16 differently)."""
    if value is None:
        return None
    return _md5(value) if isinstance(value, str) else _md5(orjson.dumps(value, default=str).decode())


def _md5(text: str) -> str:
    # md5, not a stronger hash: DuckDB computes the same one in SQL, and these are fingerprints, not secrets.
    return hashlib.md5(text.encode("utf-8", "replace"), usedforsecurity=False).hexdigest()


def present(*values: Any) -> Any:
    """The first value that is neither None nor the empty string (ids and names that fall back in turn)."""
    for value in values:
        if value is not None and value != "":
            return value
    return None


def first(*values: Any) -> Any:
    """The first value that is not None."""
    for value in values:
        if value is not None:
            return value
    return None


def as_text(value: Any) -> str:
    """A value as text for matching names: a string itself, None as "", anything else its JSON text."""
    if value is None:
        return ""
    return value if isinstance(value, str) else orjson.dumps(value, default=str).decode()


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def seconds_to_ms(value: Any) -> Any:
    """Seconds -> milliseconds for numbers; anything else is returned for the contract to judge."""
    return value * 1000.0 if is_number(value) else value


def dig(value: Any, *keys: str) -> Any:
    """value[k1][k2]... through nested objects; None as soon as a level is missing or not an object."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def add_if_number(total: Any, extra: Any) -> Any:
    """total + extra when both are numbers; otherwise total as it is (a missing part adds nothing)."""
    return total + extra if is_number(total) and is_number(extra) else total


def json_in(value: Any, *keys: str) -> Any:
    """The value inside a string that holds JSON text, at `keys` through nested objects; None when the
    string is not JSON, a key is missing or the value is null (attributes that carry a JSON document)."""
    if not isinstance(value, str):
        return None
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return dig(decoded, *keys)


def json_decoded(value: Any) -> Any:
    """A string holding JSON text as the value it encodes (null as None); any other value as it is."""
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def epoch_seconds_to_ms(value: Any) -> Any:
    """Epoch seconds (a float, as Python's time.time()) -> whole epoch ms, truncated toward zero; any other
    value, or one too large for DuckDB's BIGINT, unchanged for the contract to judge.

    Rounded to the microsecond first: a float holds 1795777200.073 as ...072999..., and truncating that
    straight to milliseconds would lose a millisecond that the producer did write."""
    if is_number(value) and abs(value) < 1e12:
        micros = math.floor(value * 1e6 + 0.5)
        return micros // 1000 if micros >= 0 else -(-micros // 1000)
    return value


def seconds_between_ms(start: Any, end: Any) -> float | None:
    """(end - start) seconds -> ms, to the microsecond, when both are numbers and the result is finite;
    otherwise None. Epoch seconds as floats resolve about 0.2 µs, so a difference carries float noise
    (849.999905 for 850 ms); the producers' clocks (Python datetimes) have microseconds, so that is kept."""
    if is_number(start) and is_number(end):
        micros = (end - start) * 1e6
        return math.floor(micros + 0.5) / 1000 if math.isfinite(micros) else None
    return None


def iso_to_epoch_ms(value: Any) -> Any:
    """An ISO-8601 time (naive means UTC) or epoch milliseconds -> epoch ms; otherwise the value unchanged."""
    if isinstance(value, float):
        return int(value) if abs(value) < 1e18 else value  # DuckDB's BIGINT would overflow past this
    if is_number(value):
        return value
    if isinstance(value, str):
        parsed = parse_iso(value)
        return value if parsed is None else int(parsed.timestamp() * 1000)
    return value
