"""The event contract: the one definition of what a valid record is.

Everything that enforces or describes the contract is generated from the tables in this module:
the loader's SQL (`ingestion.contract.staging_sql`), the Great Expectations suite (`expectations.suite`),
the pure-Python validator used by the SDK and tests (`validate_record`), and the docs table
(`contract_markdown`). Change a rule here and all of them change together.

Two record kinds travel in the same native files, told apart by `record_type`:
an *interaction* (one model call; `record_type` absent or "interaction") and *feedback*
(behaviour observed after the call). See docs/contract.md.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

# "map": a JSON object of string keys to string values (`tags`), bounded by the field's `MapLimits`.
Kind = Literal["string", "int", "number", "bool", "map"]

SUPPORTED_VERSIONS: tuple[str, ...] = ("1.0", "1.1", "1.2")
FEEDBACK_VERSIONS: tuple[str, ...] = ("1.1", "1.2")
LATEST_VERSION = "1.2"

# Plausibility window for event timestamps (epoch ms, UTC). Nothing in this product existed before
# 2020; a clock more than a day ahead of the loader is broken, not early.
MIN_TIMESTAMP_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
MAX_FUTURE_SKEW_MS = 24 * 3600 * 1000

# Fields that may carry prompt or completion text in foreign formats or careless producers.
# They are never loaded; the lake keeps hashes only.
CONTENT_FIELDS: tuple[str, ...] = ("prompt", "completion", "response", "input", "output", "messages")


@dataclass(frozen=True)
class MapLimits:
    """What a map field may hold: how many keys, which keys, how long a value (in characters)."""

    max_keys: int
    key_pattern: str  # matched against the whole key (both engines' regular expressions read it alike)
    max_value_chars: int


@dataclass(frozen=True)
class Field:
    """One field of a record kind and the rules it obeys."""

    name: str
    kind: Kind
    description: str
    required: bool = False
    since: str = "1.0"  # first schema version that has the field
    nullable_since: str | None = None  # a required field may be null from this version on
    non_empty: bool = False  # strings: "" is as bad as missing
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    allowed: tuple[str, ...] | None = None
    default: Any = None  # value used when the field is absent or null (optional fields only)
    map_limits: MapLimits | None = None  # kind "map" only

    @property
    def nullable_in_latest(self) -> bool:
        return not self.required or self.nullable_since is not None


@dataclass(frozen=True)
class CrossFieldRule:
    """A rule `left (+ also_left ...) <= right`, checked when `right` and at least one left term are present
    (an absent term of a sum counts 0)."""

    name: str
    left: str
    right: str
    description: str
    also_left: tuple[str, ...] = ()

    @property
    def left_terms(self) -> tuple[str, ...]:
        return (self.left, *self.also_left)

    @property
    def left_column(self) -> str:
        """The column holding the left side: the field itself, or the name of the derived sum."""
        return "_plus_".join(self.left_terms)

    def left_sql(self, prefix: str = "") -> str:
        """The left side in SQL over columns named prefix + field (a sum coalesces absent terms to 0)."""
        if not self.also_left:
            return f"{prefix}{self.left}"
        return "(" + " + ".join(f"coalesce({prefix}{t}, 0)" for t in self.left_terms) + ")"

    def present_sql(self, prefix: str = "") -> str:
        """True when the rule applies: some left term present (the comparison with a null right is null)."""
        return "(" + " or ".join(f"{prefix}{t} is not null" for t in self.left_terms) + ")"


INTERACTION_FIELDS: tuple[Field, ...] = (
    Field("schema_version", "string", "Contract version the producer wrote.", required=True,
          allowed=SUPPORTED_VERSIONS),
    Field("event_id", "string", "Unique id of the model call; retries repeat it.", required=True, non_empty=True),
    Field("session_id", "string", "Conversation or session the call belongs to.", required=True, non_empty=True),
    Field("user_id", "string", "Pseudonymous user id; never an e-mail or other PII.", non_empty=True),
    Field("timestamp", "int", "Call start, epoch milliseconds UTC.", required=True),
    Field("feature_id", "string", "Product feature that made the call.", required=True, non_empty=True),
    Field("model_id", "string", "Model family, e.g. gpt-4o.", required=True, non_empty=True),
    Field("model_version", "string", "Model version or dated snapshot.", required=True, non_empty=True),
    Field("routing_strategy", "string", "How the router chose the model.", allowed=("primary", "fallback", "cache")),
    Field("ttft_ms", "number", "Time to first token, ms.", required=True, nullable_since="1.1", minimum=0),
    Field("total_latency_ms", "number", "Total call latency, ms.", required=True, minimum=0),
    Field("stream_chunks_received", "int", "Chunks received on a streamed call.", minimum=0),
    Field("prompt_tokens", "int", "Input tokens, cache reads and cache writes included.", required=True,
          nullable_since="1.1", minimum=0),
    Field("completion_tokens", "int", "Output tokens, reasoning tokens included.", required=True,
          nullable_since="1.1", minimum=0),
    Field("cached_tokens", "int", "Input tokens read from the provider's prompt cache (inside prompt_tokens).",
          minimum=0, default=0),
    Field("estimated_cost_usd", "number", "Cost the producer believed, USD.", required=True, nullable_since="1.1",
          minimum=0),
    Field("user_regenerated", "bool", "The user asked for another answer.", default=False),
    Field("user_edited_output", "bool", "The user edited the answer.", default=False),
    Field("explicit_rating", "string", "Thumbs up or down, when the user gave one.", allowed=("up", "down")),
    Field("implicit_quality_score", "number", "Producer's behavioural quality score.", required=True,
          nullable_since="1.1", minimum=0, maximum=1),
    # 1.1 additions
    Field("provider", "string", "Model provider, e.g. openai.", since="1.1"),
    Field("prompt_hash", "string", "Hash of the scrubbed prompt prefix (never the text).", since="1.1"),
    Field("response_hash", "string", "Hash of the response (never the text).", since="1.1"),
    Field("trace_id", "string", "Distributed trace id.", since="1.1"),
    Field("cache_write_tokens", "int", "Input tokens written to the prompt cache (inside prompt_tokens).", since="1.1",
          minimum=0),
    Field("reasoning_tokens", "int", "Reasoning tokens inside completion_tokens.", since="1.1", minimum=0),
    Field("is_error", "bool", "The call failed.", since="1.1", default=False),
    Field("sample_rate", "number", "Probability the producer kept this call; totals weight by 1/sample_rate.",
          since="1.1", minimum=0, exclusive_minimum=True, maximum=1, default=1.0),
    # 1.2 additions
    Field("tags", "map", "Dimensions to attribute cost and quality to (customer, tenant, team, environment, "
          "API key, experiment arm): string keys to string values.", since="1.2",
          map_limits=MapLimits(max_keys=32, key_pattern="[a-z0-9_.-]{1,64}", max_value_chars=256)),
    Field("prompt_version", "string", "Version of the prompt template the call used.", since="1.2"),
)

INTERACTION_RULES: tuple[CrossFieldRule, ...] = (
    CrossFieldRule("ttft_le_latency", "ttft_ms", "total_latency_ms", "ttft_ms <= total_latency_ms"),
    CrossFieldRule("cached_le_prompt", "cached_tokens", "prompt_tokens",
                   "cached_tokens + cache_write_tokens <= prompt_tokens (cache reads and cache writes are both "
                   "counted inside prompt_tokens)", also_left=("cache_write_tokens",)),
)

FEEDBACK_KINDS = ("regenerated", "edited", "rating")

FEEDBACK_FIELDS: tuple[Field, ...] = (
    Field("schema_version", "string", "Contract version (1.1 or later).", required=True, allowed=FEEDBACK_VERSIONS),
    Field("feedback_id", "string", "Unique id of the feedback; retries repeat it.", required=True, non_empty=True),
    Field("target_event_id", "string", "The interaction this feedback is about.", required=True, non_empty=True),
    Field("timestamp", "int", "When the behaviour happened, epoch ms UTC.", required=True),
    Field("kind", "string", "What the user did.", required=True, allowed=FEEDBACK_KINDS),
    Field("rating", "string", "Thumbs up or down; required when kind is rating.", allowed=("up", "down")),
)

# Rule names as they appear in quarantine.rule; ordered as they are checked (first broken rule wins).
RULE_MALFORMED_JSON = "malformed_json"
RULE_NOT_AN_OBJECT = "not_an_object"
RULE_UNKNOWN_RECORD_TYPE = "unknown_record_type"
RULE_UNSUPPORTED_VERSION = "unsupported_schema_version"
RULE_TIMESTAMP_PLAUSIBLE = "timestamp_plausible"
RULE_RATING_REQUIRED = "rating_required_for_rating_kind"
RULE_DUPLICATE_CONFLICT = "duplicate_conflict"


def rule_required(field: str) -> str:
    return f"required:{field}"


def rule_type(field: str) -> str:
    return f"type:{field}"


def rule_range(field: str) -> str:
    return f"range:{field}"


def rule_allowed(field: str) -> str:
    return f"allowed:{field}"


def rule_max_keys(field: str) -> str:
    return f"max_keys:{field}"


def rule_key_format(field: str) -> str:
    return f"key_format:{field}"


def rule_value_length(field: str) -> str:
    return f"value_length:{field}"


def map_measures(field: Field) -> tuple[tuple[str, str, int, str], ...]:
    """What the Great Expectations suite checks of a map field, as derived columns over the lake's map column:
    (column name, DuckDB SQL computing it, the highest value allowed, the rule it stands for).

    GX has no expectation on map values; each limit becomes a number per row that must stay in range.
    """
    limits = field.map_limits
    assert limits is not None
    name = field.name
    # A row without the map (null) measures 0 everywhere.
    return (
        (f"{name}__keys", f"coalesce(cardinality({name}), 0)", limits.max_keys, rule_max_keys(name)),
        (f"{name}__malformed_keys",
         f"coalesce(len(list_filter(map_keys({name}), lambda k: not regexp_full_match(k, '{limits.key_pattern}'))), 0)",
         0, rule_key_format(name)),
        (f"{name}__longest_value", f"coalesce(list_max(list_transform(map_values({name}), lambda v: length(v))), 0)",
         limits.max_value_chars, rule_value_length(name)),
    )


def fields_for(record_type: str) -> tuple[Field, ...]:
    return INTERACTION_FIELDS if record_type == "interaction" else FEEDBACK_FIELDS


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def _json_kind_ok(kind: Kind, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        # JSON has one number type; 12.0 is an integer written loosely, 12.5 is not.
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "map":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    raise ValueError(kind)


def _map_violations(field: Field, value: dict[str, str]) -> list[str]:
    limits = field.map_limits
    assert limits is not None, f"map field {field.name} has no MapLimits"
    broken: list[str] = []
    if len(value) > limits.max_keys:
        broken.append(rule_max_keys(field.name))
    if not all(re.fullmatch(limits.key_pattern, k) for k in value):
        broken.append(rule_key_format(field.name))
    if any(len(v) > limits.max_value_chars for v in value.values()):
        broken.append(rule_value_length(field.name))
    return broken


def field_violations(field: Field, record: dict[str, Any], version: str) -> list[str]:
    """Rules one field of a record breaks (empty when it is valid). Pure; used by tests and the SDK."""
    value = record.get(field.name)
    if value is None:
        may_be_null = (not field.required) or (
            field.nullable_since is not None and version_key(version) >= version_key(field.nullable_since))
        return [] if may_be_null else [rule_required(field.name)]
    if not _json_kind_ok(field.kind, value):
        return [rule_type(field.name)]
    if field.kind == "map":
        return _map_violations(field, value)
    broken: list[str] = []
    if field.non_empty and value == "":
        broken.append(rule_required(field.name))
    if field.allowed is not None and value not in field.allowed:
        broken.append(RULE_UNSUPPORTED_VERSION if field.name == "schema_version" else rule_allowed(field.name))
    if field.minimum is not None and (value <= field.minimum if field.exclusive_minimum else value < field.minimum):
        broken.append(rule_range(field.name))
    if field.maximum is not None and value > field.maximum:
        broken.append(rule_range(field.name))
    return broken


def record_type_of(record: dict[str, Any]) -> str | None:
    rtype = record.get("record_type")
    if rtype is None or rtype == "interaction":
        return "interaction"
    if rtype == "feedback":
        return "feedback"
    return None


def validate_record(record: Any, now_ms: int) -> list[str]:
    """All contract rules a parsed JSON value breaks, in check order. Empty list means valid.

    This is the reference implementation in plain Python; the loader runs the same rules as SQL.
    """
    if not isinstance(record, dict):
        return [RULE_NOT_AN_OBJECT]
    rtype = record_type_of(record)
    if rtype is None:
        return [RULE_UNKNOWN_RECORD_TYPE]
    version = record.get("schema_version")
    versions = SUPPORTED_VERSIONS if rtype == "interaction" else FEEDBACK_VERSIONS
    if version not in versions:
        return [RULE_UNSUPPORTED_VERSION] if version is not None else [rule_required("schema_version")]
    broken: list[str] = []
    for field in fields_for(rtype):
        if field.name == "schema_version" or version_key(field.since) > version_key(version):
            continue
        broken.extend(field_violations(field, record, version))
    ts = record.get("timestamp")
    if rule_required("timestamp") not in broken and rule_type("timestamp") not in broken:
        if ts < MIN_TIMESTAMP_MS or ts > now_ms + MAX_FUTURE_SKEW_MS:
            broken.append(RULE_TIMESTAMP_PLAUSIBLE)
    if rtype == "interaction":
        for rule in INTERACTION_RULES:
            terms, right = [record.get(t) for t in rule.left_terms], record.get(rule.right)
            typed_ok = all(rule_type(f) not in broken for f in (*rule.left_terms, rule.right))
            numbers = [t for t in terms if isinstance(t, (int, float)) and not isinstance(t, bool)]
            if typed_ok and numbers and isinstance(right, (int, float)) and sum(numbers) > right:
                broken.append(rule.name)
    elif record.get("kind") == "rating" and record.get("rating") is None:
        broken.append(RULE_RATING_REQUIRED)
    return broken


def contract_markdown() -> str:
    """The contract as Markdown tables, for docs/contract.md (kept in sync by a test)."""

    def rows(fields: tuple[Field, ...]) -> list[str]:
        out = ["| field | type | since | required | rule | meaning |", "|---|---|---|---|---|---|"]
        for f in fields:
            rule = []
            if f.non_empty:
                rule.append("non-empty")
            if f.allowed:
                rule.append("one of " + ", ".join(f"`{a}`" for a in f.allowed))
            if f.minimum is not None:
                rule.append(f"{'>' if f.exclusive_minimum else '>='} {f.minimum:g}")
            if f.maximum is not None:
                rule.append(f"<= {f.maximum:g}")
            if f.map_limits is not None:
                lim = f.map_limits
                rule.append(f"object of string values; at most {lim.max_keys} keys (`{rule_max_keys(f.name)}`); "
                            f"keys match `{lim.key_pattern}` (`{rule_key_format(f.name)}`); values at most "
                            f"{lim.max_value_chars} characters (`{rule_value_length(f.name)}`)")
            if f.default is not None:
                rule.append(f"default `{str(f.default).lower() if isinstance(f.default, bool) else f.default}`")
            req = "yes" if f.required else "no"
            if f.nullable_since:
                req += f" (may be null from {f.nullable_since})"
            out.append(f"| `{f.name}` | {f.kind} | {f.since} | {req} | {'; '.join(rule)} | {f.description} |")
        return out

    lines = ["## Interaction records", "", *rows(INTERACTION_FIELDS), "", "Cross-field rules:", ""]
    lines += [f"- `{r.name}`: {r.description}" for r in INTERACTION_RULES]
    lines += [f"- `{RULE_TIMESTAMP_PLAUSIBLE}`: timestamp >= {MIN_TIMESTAMP_MS} (2020-01-01) and at most "
              f"{MAX_FUTURE_SKEW_MS // 3_600_000} h after the load", "",
              "## Feedback records (`record_type: \"feedback\"`)", "", *rows(FEEDBACK_FIELDS), "",
              f"- `{RULE_RATING_REQUIRED}`: `rating` is required when `kind` is `rating`", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(contract_markdown())
