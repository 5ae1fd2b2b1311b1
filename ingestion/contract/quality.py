"""The producer-side implicit-quality formula (docs/marts.md), shared by the SDK and synthetic data.

Pure and dependency-free so the SDK's hot path and the synthetic generator score calls the same way.
The warehouse recomputes its own score in dbt with the same default weights.
"""

from __future__ import annotations

REGENERATED_PENALTY = 0.3
EDITED_PENALTY = 0.15
SLOW_LATENCY_MS = 3000
SLOW_FACTOR = 0.6
VERBOSE_RATIO = 2.5
VERBOSE_PENALTY = 0.1


def producer_quality(regenerated: bool, edited: bool, latency_ms: float, prompt: int, completion: int) -> float:
    """The implicit-quality formula producers use today (docs/marts.md, "How the numbers are made")."""
    score = 1.0
    if regenerated:
        score -= REGENERATED_PENALTY
    if edited:
        score -= EDITED_PENALTY
    if latency_ms > SLOW_LATENCY_MS:
        score *= SLOW_FACTOR
    if completion / max(prompt, 1) > VERBOSE_RATIO:
        score -= VERBOSE_PENALTY
    return min(1.0, max(0.0, score))
