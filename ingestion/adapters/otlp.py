"""OTLP JSON traces (OpenTelemetry GenAI spans) -> canonical 1.1 interaction records. Pure, no I/O.

Input is one `TracesData` / `ExportTraceServiceRequest` object as the OpenTelemetry Collector's file
exporter and our collector's `/v1/traces` write it: lowerCamelCase keys, hex trace and span ids, int64
values as decimal strings (numbers are accepted too). Each span becomes one record or `None` when it is
not a model call (skipped and counted by the loader). The mapping table is in docs/adapters.md.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ingestion.adapters.common import content_hash, first, is_number, present, scrub_record

# gen_ai.operation.name values that are a call to a model (inference or embeddings). Agent, tool and
# workflow spans (invoke_agent, execute_tool, ...) are not model calls and are skipped.
MODEL_CALL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})

DEFAULT_FEATURE_ATTRIBUTES = ("aiw.feature_id", "service.name")
FEATURE_ENV = "AIW_OTLP_FEATURE_ATTRIBUTE"
USER_ATTRIBUTES = ("user.id", "enduser.id", "gen_ai.user.id")
UNKNOWN_FEATURE = "unknown"

# Attributes holding prompt or completion text: hashed into prompt_hash / response_hash, never copied.
INPUT_CONTENT = ("gen_ai.input.messages", "gen_ai.prompt", "gen_ai.system_instructions")
OUTPUT_CONTENT = ("gen_ai.output.messages", "gen_ai.completion")

STATUS_ERROR = 2
_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX16 = re.compile(r"[0-9a-f]{16}")

# Span attributes the mapping reads (others, often large, are never converted). Feature and user
# attributes are configurable, so they are added per options.
SPAN_ATTRIBUTES = frozenset({
    "gen_ai.operation.name", "gen_ai.request.model", "gen_ai.response.model", "gen_ai.provider.name",
    "gen_ai.system", "gen_ai.conversation.id", "gen_ai.response.time_to_first_chunk", "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
    "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_write.input_tokens", "gen_ai.usage.reasoning.output_tokens", "error.type",
    *USER_ATTRIBUTES, *INPUT_CONTENT, *OUTPUT_CONTENT})


@dataclass(frozen=True)
class OtlpOptions:
    """How to read attributes that are not standard: which ones name the product feature."""

    feature_attributes: tuple[str, ...] = DEFAULT_FEATURE_ATTRIBUTES

    @property
    def wanted(self) -> frozenset[str]:
        """Every attribute name the mapping reads with these options."""
        return SPAN_ATTRIBUTES | frozenset(self.feature_attributes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OtlpOptions:
        """Options from AIW_OTLP_FEATURE_ATTRIBUTE (comma-separated attribute names, first present wins)."""
        raw = (environ if environ is not None else os.environ).get(FEATURE_ENV, "")
        names = tuple(n.strip() for n in raw.split(",") if n.strip())
        return cls(feature_attributes=names or DEFAULT_FEATURE_ATTRIBUTES)


# An int64 written as a decimal string (OTLP JSON's encoding) of at most 18 digits becomes a number.
_INT_TEXT = re.compile(r"-?(0|[1-9][0-9]{0,17})")
_NANOS_TEXT = re.compile(r"-?[0-9]{1,20}")
VARIANTS = ("stringValue", "intValue", "doubleValue", "boolValue", "arrayValue", "kvlistValue", "bytesValue")


def any_value(value: Any) -> Any:
    """The value of an OTLP JSON AnyValue: its first variant that is not null, with int64 and double
    strings as numbers. Lists, maps and bytes stay as written: no canonical field takes them, so the
    contract rejects them wherever they land (content is only hashed)."""
    if not isinstance(value, dict):
        return None
    for variant in VARIANTS:
        raw = value.get(variant)
        if raw is None:
            continue
        if variant == "intValue" and isinstance(raw, str) and _INT_TEXT.fullmatch(raw):
            return int(raw)
        if variant == "doubleValue" and isinstance(raw, str):
            try:
                number = float(raw)
            except ValueError:
                return raw
            return number if math.isfinite(number) else raw
        return raw
    return None


def attributes(items: Any, wanted: frozenset[str] | None = None) -> dict[str, Any]:
    """An OTLP attribute list `[{key, value: AnyValue}]` as a plain dict (only the `wanted` keys, if given)."""
    if not isinstance(items, list):
        return {}
    out = {}
    for item in items:
        if item.__class__ is dict:
            key = item.get("key")
            if key is not None and (wanted is None or key in wanted):
                out[key] = any_value(item.get("value"))
    return out


def hex_id(value: Any) -> Any:
    """A trace or span id as lower-case hex. OTLP JSON writes hex; protobuf's generic JSON writes base64."""
    if not isinstance(value, str) or not value:
        return value
    if len(value) in (16, 32):
        return value.lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return value
    return raw.hex() if len(raw) in (8, 16) else value


def _nanos(value: Any) -> int | None:
    """Nanoseconds from an int64 (a decimal string in OTLP JSON, or a number); None for anything else."""
    if isinstance(value, str):
        return int(value) if _NANOS_TEXT.fullmatch(value) else None
    if isinstance(value, float):
        return int(value) if abs(value) < 1e20 else None
    return value if is_number(value) else None


def _whole_ms(nanos: int) -> int:
    """Nanoseconds -> whole milliseconds, truncated toward zero (as DuckDB's integer division does)."""
    return nanos // 1_000_000 if nanos >= 0 else -(-nanos // 1_000_000)


def _first(attrs: dict[str, Any], names: tuple[str, ...]) -> Any:
    return first(*(attrs.get(name) for name in names))


def _event_id(trace_id: Any, span_id: Any) -> Any:
    # Trace id then span id, as one run of hex: span ids are unique only within their trace.
    # Only well-formed ids are joined: gluing arbitrary text could hide PII from the scrubber (the last
    # digits of a phone number would run into the next id's characters).
    if isinstance(trace_id, str) and isinstance(span_id, str) and _HEX32.fullmatch(trace_id) and \
            _HEX16.fullmatch(span_id):
        return trace_id + span_id
    return span_id


def is_model_call(attrs: dict[str, Any]) -> bool:
    """A span describes one call to a model: an inference/embeddings operation, or (conventions before
    gen_ai.operation.name) a span that names a requested model."""
    op = attrs.get("gen_ai.operation.name")
    if op is not None:
        return isinstance(op, str) and op in MODEL_CALL_OPERATIONS
    return attrs.get("gen_ai.request.model") is not None or attrs.get("gen_ai.response.model") is not None


def span_to_record(span: dict[str, Any], resource: dict[str, Any], options: OtlpOptions,
                   wanted: frozenset[str] | None = None) -> dict[str, Any] | None:
    """One span -> a canonical 1.1 interaction record (PII-scrubbed), or None when it is not a model call."""
    attrs = attributes(span.get("attributes"), wanted or options.wanted)
    if not is_model_call(attrs):
        return None
    trace_id = hex_id(span.get("traceId"))
    start, end = _nanos(span.get("startTimeUnixNano")), _nanos(span.get("endTimeUnixNano"))
    status = span.get("status")
    code = status.get("code") if isinstance(status, dict) else None
    feature = None
    for name in options.feature_attributes:
        feature = attrs.get(name)
        if feature is None:
            feature = resource.get(name)
        if feature is not None:
            break
    request_model, response_model = attrs.get("gen_ai.request.model"), attrs.get("gen_ai.response.model")
    ttft_s = attrs.get("gen_ai.response.time_to_first_chunk")
    input_content = _first(attrs, INPUT_CONTENT)
    output_content = _first(attrs, OUTPUT_CONTENT)
    record = {
        "schema_version": "1.1",
        "event_id": _event_id(trace_id, hex_id(span.get("spanId"))),
        "session_id": present(attrs.get("gen_ai.conversation.id"), resource.get("gen_ai.conversation.id"), trace_id),
        "user_id": first(_first(attrs, USER_ATTRIBUTES), _first(resource, USER_ATTRIBUTES)),
        "timestamp": _whole_ms(start) if start is not None else None,
        "feature_id": feature if feature is not None else UNKNOWN_FEATURE,
        "model_id": request_model if request_model is not None else response_model,
        "model_version": response_model if response_model is not None else request_model,
        "provider": first(attrs.get("gen_ai.provider.name"), attrs.get("gen_ai.system")),
        "ttft_ms": ttft_s * 1000.0 if is_number(ttft_s) else ttft_s,
        "total_latency_ms": (end - start) / 1e6 if start is not None and end is not None else None,
        "prompt_tokens": _first(attrs, ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")),
        "completion_tokens": _first(attrs, ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")),
        "cached_tokens": attrs.get("gen_ai.usage.cache_read.input_tokens"),
        "cache_write_tokens": _first(attrs, ("gen_ai.usage.cache_creation.input_tokens",
                                             "gen_ai.usage.cache_write.input_tokens")),
        "reasoning_tokens": attrs.get("gen_ai.usage.reasoning.output_tokens"),
        "is_error": (is_number(code) and code == STATUS_ERROR) or code == "STATUS_CODE_ERROR"
                    or attrs.get("error.type") is not None,
        "trace_id": trace_id,
        "prompt_hash": content_hash(input_content),
        "response_hash": content_hash(output_content),
        # Spans carry no cost and no behavioural quality: unknown, not zero (contract 1.1 allows null).
        "estimated_cost_usd": None,
        "implicit_quality_score": None,
    }
    return scrub_record(record)


# The two spellings of the lists: OTLP JSON's lowerCamelCase, and the protobuf field names some exporters keep.
SPELLINGS = (("resourceSpans", "scopeSpans"), ("resource_spans", "scope_spans"))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def spelling_of(value: Any) -> tuple[str, str] | None:
    """The spelling of a TracesData / export request: the first whose top-level list it has; None if not one."""
    if isinstance(value, dict):
        for spelling in SPELLINGS:
            if isinstance(value.get(spelling[0]), list):
                return spelling
    return None


def traces_to_records(traces: dict[str, Any], options: OtlpOptions) -> list[dict[str, Any] | None]:
    """Every span of one TracesData object, in file order: a record per model call, None per skipped span
    (a span that is not even an object is skipped too)."""
    out: list[dict[str, Any] | None] = []
    wanted = options.wanted
    spelling = spelling_of(traces)
    if spelling is None:
        return out
    resource_key, scope_key = spelling
    for rs in traces[resource_key]:
        rs = _dict(rs)
        resource = attributes(_dict(rs.get("resource")).get("attributes"))
        for ss in _list(rs.get(scope_key)):
            for span in _list(_dict(ss).get("spans")):
                out.append(span_to_record(span, resource, options, wanted) if isinstance(span, dict) else None)
    return out


def is_traces_data(value: Any) -> bool:
    """The object is a TracesData / export request (has a resourceSpans list)."""
    return spelling_of(value) is not None


def line_records(value: Any, options: OtlpOptions) -> list[dict[str, Any] | None] | None:
    """The records of one parsed source line, a record or None (skipped) per span; None when not TracesData."""
    return traces_to_records(value, options) if is_traces_data(value) else None
