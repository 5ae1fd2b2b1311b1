"""The event contract as a Great Expectations suite, generated from `ingestion.contract.schema`.

The suite is what the marts are promised about every accepted interaction row in the lake. The
loader enforces the same contract in SQL (`ingestion.contract.staging_sql`); running GX over what the
loader accepted is an independent second implementation of the rules, so a loader bug, or a lake
file written by anything else, fails the check and blocks the marts.
"""

from __future__ import annotations

from typing import Any

from ingestion.contract import schema as c

SUITE_NAME = "ai_interaction_contract"


def expectation_specs(now_ms: int) -> list[tuple[str, dict[str, Any]]]:
    """(GX expectation class name, kwargs) pairs for accepted interaction rows. Pure: no GX import."""
    specs: list[tuple[str, dict[str, Any]]] = []
    for f in c.INTERACTION_FIELDS:
        for column, _, highest, _ in c.map_measures(f) if f.map_limits else ():
            specs.append(("ExpectColumnValuesToBeBetween", {"column": column, "min_value": 0, "max_value": highest}))
        if f.required and f.nullable_since is None:
            specs.append(("ExpectColumnValuesToNotBeNull", {"column": f.name}))
        if f.non_empty:
            specs.append(("ExpectColumnValueLengthsToBeBetween", {"column": f.name, "min_value": 1}))
        if f.allowed is not None:
            specs.append(("ExpectColumnValuesToBeInSet", {"column": f.name, "value_set": list(f.allowed)}))
        if f.minimum is not None or f.maximum is not None:
            kwargs: dict[str, Any] = {"column": f.name, "min_value": f.minimum, "max_value": f.maximum}
            if f.exclusive_minimum:
                kwargs["strict_min"] = True
            specs.append(("ExpectColumnValuesToBeBetween", kwargs))
    specs.append(("ExpectColumnValuesToBeBetween", {
        "column": "timestamp", "min_value": c.MIN_TIMESTAMP_MS, "max_value": now_ms + c.MAX_FUTURE_SKEW_MS}))
    for rule in c.INTERACTION_RULES:
        specs.append(("ExpectColumnPairValuesAToBeGreaterThanB", {
            "column_A": rule.right, "column_B": rule.left_column, "or_equal": True,
            "ignore_row_if": "either_value_is_missing"}))
    specs.append(("ExpectColumnValuesToBeUnique", {"column": "event_id"}))
    return specs


def build_suite(now_ms: int) -> Any:
    """The GX ExpectationSuite (imports GX lazily: it takes seconds to import)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name=SUITE_NAME)
    for class_name, kwargs in expectation_specs(now_ms):
        suite.add_expectation(getattr(gxe, class_name)(**kwargs))
    return suite
