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
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ingestion.adapters.common import (
    content_hash,
    first,
    is_number,
    iso_to_epoch_ms,
    json_decoded,
    json_in,
    names_from_env,
    present,
    scrub_record,
)
from ingestion.adapters.langfuse import usage_tokens

# Three attribute families describe model calls: OpenTelemetry's GenAI conventions (`gen_ai.*`),
# OpenInference's (Arize Phoenix: `llm.*`, `openinference.span.kind`) and the Langfuse SDK's
# (`langfuse.observation.*`). They arrive in the same OTLP documents, often through the same collector, so
# each span is read by whichever family it carries; every field takes the first family that has it.

# gen_ai.operation.name values that are a call to a model (inference or embeddings). Agent, tool and
# workflow spans (invoke_agent, execute_tool, ...) are not model calls and are skipped.
MODEL_CALL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
# openinference.span.kind values that are model calls (CHAIN, TOOL, AGENT, RETRIEVER, ... are not).
OPENINFERENCE_MODEL_CALL_KINDS = frozenset({"LLM", "EMBEDDING"})
# langfuse.observation.type values that are model calls (span, event, tool, agent, ... are not).
LANGFUSE_MODEL_CALL_TYPES = frozenset({"generation", "embedding"})

DEFAULT_FEATURE_ATTRIBUTES = ("aiw.feature_id", "metadata.feature_id", "langfuse.trace.metadata.feature_id",
                              "langfuse.observation.metadata.feature_id", "service.name")
FEATURE_ENV = "AIW_OTLP_FEATURE_ATTRIBUTE"
# OpenInference keeps metadata as one JSON object attribute: a feature name `metadata.<key>` without an
# attribute of its own reads <key> there.
OPENINFERENCE_METADATA = "metadata"
# The Langfuse SDK writes each metadata value as JSON text ('"search"' for the string search): decoded.
LANGFUSE_PREFIX = "langfuse."
USER_ATTRIBUTES = ("user.id", "enduser.id", "gen_ai.user.id", "langfuse.user.id")
SESSION_ATTRIBUTES = ("gen_ai.conversation.id", "session.id", "langfuse.session.id")
UNKNOWN_FEATURE = "unknown"

# Canonical field -> the attributes it is read from, first present wins.
REQUEST_MODEL = ("gen_ai.request.model",)
# OpenInference names only the model that answered; the requested one is in its invocation parameters.
INVOCATION_PARAMETERS = "llm.invocation_parameters"
RESPONSE_MODEL = ("gen_ai.response.model", "llm.model_name", "langfuse.observation.model.name")
PROVIDER = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
PROMPT_TOKENS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
COMPLETION_TOKENS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion")
CACHED_TOKENS = ("gen_ai.usage.cache_read.input_tokens", "llm.token_count.prompt_details.cache_read")
CACHE_WRITE_TOKENS = ("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_write.input_tokens",
                      "llm.token_count.prompt_details.cache_write")
REASONING_TOKENS = ("gen_ai.usage.reasoning.output_tokens", "llm.token_count.completion_details.reasoning")
TOKEN_ATTRIBUTES = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                    "cached_tokens": CACHED_TOKENS, "cache_write_tokens": CACHE_WRITE_TOKENS,
                    "reasoning_tokens": REASONING_TOKENS}
# Langfuse SDK spans: usage and cost are JSON documents, the completion start an ISO time as JSON text.
LANGFUSE_USAGE = "langfuse.observation.usage_details"
LANGFUSE_COST = "langfuse.observation.cost_details"
LANGFUSE_COMPLETION_START = "langfuse.observation.completion_start_time"
LANGFUSE_LEVEL = "langfuse.observation.level"

# Attributes holding prompt or completion text: hashed into prompt_hash / response_hash, never copied.
INPUT_CONTENT = ("gen_ai.input.messages", "gen_ai.prompt", "gen_ai.system_instructions", "input.value",
                 "langfuse.observation.input")
OUTPUT_CONTENT = ("gen_ai.output.messages", "gen_ai.completion", "output.value", "langfuse.observation.output")

STATUS_ERROR = 2
_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX16 = re.compile(r"[0-9a-f]{16}")

# Span attributes the mapping reads (others, often large, are never converted). Feature and user
# attributes are configurable, so they are added per options.
SPAN_ATTRIBUTES = frozenset({
    "gen_ai.operation.name", "openinference.span.kind", "langfuse.observation.type", *REQUEST_MODEL,
    INVOCATION_PARAMETERS, *RESPONSE_MODEL, *PROVIDER, *SESSION_ATTRIBUTES, "gen_ai.response.time_to_first_chunk",
    *PROMPT_TOKENS, *COMPLETION_TOKENS, *CACHED_TOKENS, *CACHE_WRITE_TOKENS, *REASONING_TOKENS, LANGFUSE_USAGE,
    LANGFUSE_COST, LANGFUSE_COMPLETION_START, LANGFUSE_LEVEL, "error.type", OPENINFERENCE_METADATA,
    *USER_ATTRIBUTES, *INPUT_CONTENT, *OUTPUT_CONTENT})
# Resource attributes the mapping reads besides the feature attributes.
RESOURCE_ATTRIBUTES = frozenset({*USER_ATTRIBUTES, *SESSION_ATTRIBUTES, OPENINFERENCE_METADATA})


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
        return cls(feature_attributes=names_from_env(FEATURE_ENV, DEFAULT_FEATURE_ATTRIBUTES, environ))


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
    """A span describes one call to a model: an inference/embeddings operation, an OpenInference LLM or
    EMBEDDING span, a Langfuse generation or embedding, or (GenAI conventions before
    gen_ai.operation.name) a span that names a requested model. The first family the span carries decides."""
    for name, allowed in (("gen_ai.operation.name", MODEL_CALL_OPERATIONS),
                          ("openinference.span.kind", OPENINFERENCE_MODEL_CALL_KINDS),
                          ("langfuse.observation.type", LANGFUSE_MODEL_CALL_TYPES)):
        value = attrs.get(name)
        if value is not None:
            return isinstance(value, str) and value in allowed
    return attrs.get("gen_ai.request.model") is not None or attrs.get("gen_ai.response.model") is not None


def feature_of(attrs: dict[str, Any], resource: dict[str, Any], options: OtlpOptions) -> Any:
    """The first configured feature attribute present, span before resource (docs/adapters.md)."""
    for name in options.feature_attributes:
        value = first(attrs.get(name), resource.get(name))
        if value is not None and name.startswith(LANGFUSE_PREFIX):
            value = json_decoded(value)
        if value is None and name.startswith(OPENINFERENCE_METADATA + "."):
            key = name[len(OPENINFERENCE_METADATA) + 1:]
            value = first(json_in(attrs.get(OPENINFERENCE_METADATA), key),
                          json_in(resource.get(OPENINFERENCE_METADATA), key))
        if value is not None:
            return value
    return UNKNOWN_FEATURE


def _langfuse_ttft_ms(attrs: dict[str, Any], start: int | None) -> Any:
    """Time from the span's start to Langfuse's completion start (an ISO time written as JSON text)."""
    completion_start_ms = iso_to_epoch_ms(json_decoded(attrs.get(LANGFUSE_COMPLETION_START)))
    if start is None or not isinstance(completion_start_ms, int) or isinstance(completion_start_ms, bool):
        return None
    return (completion_start_ms * 1_000_000 - start) / 1e6


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
    request_model = first(_first(attrs, REQUEST_MODEL), json_in(attrs.get(INVOCATION_PARAMETERS), "model"))
    response_model = _first(attrs, RESPONSE_MODEL)
    ttft_s = attrs.get("gen_ai.response.time_to_first_chunk")
    langfuse_usage = usage_tokens(json_in(attrs.get(LANGFUSE_USAGE)))
    tokens = {field: first(_first(attrs, names), langfuse_usage[field]) for field, names in TOKEN_ATTRIBUTES.items()}
    record = {
        "schema_version": "1.1",
        "event_id": _event_id(trace_id, hex_id(span.get("spanId"))),
        "session_id": present(*(attrs.get(n) for n in SESSION_ATTRIBUTES),
                              *(resource.get(n) for n in SESSION_ATTRIBUTES), trace_id),
        "user_id": first(_first(attrs, USER_ATTRIBUTES), _first(resource, USER_ATTRIBUTES)),
        "timestamp": _whole_ms(start) if start is not None else None,
        "feature_id": feature_of(attrs, resource, options),
        "model_id": request_model if request_model is not None else response_model,
        "model_version": response_model if response_model is not None else request_model,
        "provider": _first(attrs, PROVIDER),
        "ttft_ms": ttft_s * 1000.0 if is_number(ttft_s) else first(ttft_s, _langfuse_ttft_ms(attrs, start)),
        "total_latency_ms": (end - start) / 1e6 if start is not None and end is not None else None,
        **tokens,
        "is_error": (is_number(code) and code == STATUS_ERROR) or code == "STATUS_CODE_ERROR"
                    or attrs.get("error.type") is not None or attrs.get(LANGFUSE_LEVEL) == "ERROR",
        "trace_id": trace_id,
        "prompt_hash": content_hash(_first(attrs, INPUT_CONTENT)),
        "response_hash": content_hash(_first(attrs, OUTPUT_CONTENT)),
        # Spans carry no behavioural quality, and only Langfuse's carry a cost: unknown, not zero.
        "estimated_cost_usd": json_in(attrs.get(LANGFUSE_COST), "total"),
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
