"""The Python SDK: record LLM calls as contract 1.2 events without blocking or losing them.

    from ingestion.sdk import BatchEmitter, LandingTransport, track_interaction
    emitter = BatchEmitter(LandingTransport())
    track_interaction(feature_id=..., model_id=..., session_id=..., total_latency_ms=..., usage=..., emitter=emitter)

See docs/sdk.md.
"""

from ingestion.sdk.emitter import BatchEmitter, EmitterStats
from ingestion.sdk.openai_instrument import instrument_openai
from ingestion.sdk.pricing import estimate_cost_usd
from ingestion.sdk.stream import StreamResult, StreamTracker
from ingestion.sdk.tracking import configure, record_feedback, track_interaction, tracking_context
from ingestion.sdk.transports import HttpTransport, LandingTransport, Transport, TransportError

__all__ = [
    "BatchEmitter", "EmitterStats", "HttpTransport", "LandingTransport", "StreamResult", "StreamTracker",
    "Transport", "TransportError", "configure", "estimate_cost_usd", "instrument_openai", "record_feedback",
    "track_interaction", "tracking_context",
]
