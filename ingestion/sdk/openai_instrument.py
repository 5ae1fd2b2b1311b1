"""instrument_openai: make an `openai` client record every chat completion, with no other code change.

`client.chat.completions.create` is replaced on that client instance only (sync and async clients,
streamed and not). Everything else about the call (arguments, return values, exceptions) is unchanged.

For streams, the SDK asks the server for a final usage chunk (`stream_options.include_usage`) when the
caller did not set `stream_options`, and hides that extra chunk from the caller, whose code may index
`chunk.choices[0]`. Per-request fields (session, user, ...) come from `tracking_context(...)`.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Iterable
from typing import Any

from ingestion.sdk.emitter import BatchEmitter
from ingestion.sdk.events import new_id, now_ms
from ingestion.sdk.stream import StreamTracker
from ingestion.sdk.tracking import context_fields, track_interaction

_MARK = "_aiw_instrumented"


def messages_text(messages: Iterable[Any] | None) -> str | None:
    """The text of chat messages, for hashing only (content strings and text parts, in order)."""
    if not messages:
        return None
    parts: list[str] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else getattr(message, "content", None)
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "\n".join(parts)


def _response_text(response: Any) -> str | None:
    choices = getattr(response, "choices", None)
    if not choices:
        return None
    message = getattr(choices[0], "message", None)
    return getattr(message, "content", None) if message is not None else None


def _is_async(client: Any, create: Any) -> bool:
    """True for AsyncOpenAI-style clients (their `create` is wrapped, so it does not look like a coroutine)."""
    try:
        from openai import AsyncOpenAI
    except ImportError:  # the SDK works without the openai extra; such a client is duck-typed
        AsyncOpenAI = ()  # noqa: N806
    return isinstance(client, AsyncOpenAI) or inspect.iscoroutinefunction(create)


def instrument_openai(client: Any, *, feature_id: str, session_id: str | None = None, user_id: str | None = None,
                      routing_strategy: str | None = None, provider: str = "openai",
                      emitter: BatchEmitter | None = None, include_usage: bool = True) -> Any:
    """Wrap `client.chat.completions.create` so every call emits an interaction event; returns the client.

    Defaults given here are overridden by `tracking_context(...)` fields. Without a session id, each call
    is its own session. Calling it twice on one client does nothing the second time.
    """
    completions = client.chat.completions
    if getattr(completions, _MARK, False):
        return client
    original = completions.create
    defaults = {"feature_id": feature_id, "session_id": session_id, "user_id": user_id,
                "routing_strategy": routing_strategy, "provider": provider}

    def prepare(kwargs: dict[str, Any]) -> tuple[dict[str, Any], bool, bool]:
        stream = bool(kwargs.get("stream"))
        hide_usage = False
        if stream and include_usage and not kwargs.get("stream_options"):
            kwargs = {**kwargs, "stream_options": {"include_usage": True}}
            hide_usage = True
        return kwargs, stream, hide_usage

    def fields(kwargs: dict[str, Any], event_id: str, started_ms: int) -> dict[str, Any]:
        out = {**defaults, **{k: v for k, v in context_fields().items() if v is not None}}
        out = {k: v for k, v in out.items() if v is not None}
        out.setdefault("session_id", "s_" + event_id[2:])
        out.update(model_id=str(kwargs.get("model", "unknown")), event_id=event_id, timestamp_ms=started_ms,
                   prompt=messages_text(kwargs.get("messages")), emitter=emitter)
        return out

    def record_response(response: Any, base: dict[str, Any], started: float) -> None:
        latency = round((time.monotonic() - started) * 1000, 3)
        model = getattr(response, "model", None)
        # Not streamed: the first token reaches the caller with the last one.
        track_interaction(**base, model_version=model or None, price_model=model or None, ttft_ms=latency,
                          total_latency_ms=latency, usage=getattr(response, "usage", None),
                          response=_response_text(response))

    def record_error(base: dict[str, Any], started: float) -> None:
        latency = round((time.monotonic() - started) * 1000, 3)
        track_interaction(**base, total_latency_ms=latency, is_error=True)

    def wrap_stream(stream: Any, base: dict[str, Any], started: float, hide: bool) -> StreamTracker:
        def finish(result: Any) -> None:
            tokens = {k: v for k, v in result.tokens.items() if v is not None}
            track_interaction(**base, **tokens, model_version=result.model, price_model=result.model,
                              ttft_ms=result.ttft_ms, total_latency_ms=result.total_latency_ms,
                              stream_chunks_received=result.chunks, response=result.response_prefix or None,
                              is_error=result.error is not None)

        return StreamTracker(stream, started_at=started, on_finish=finish, hide_usage_chunk=hide)

    if _is_async(client, original):
        @functools.wraps(original)
        async def create_async(*args: Any, **kwargs: Any) -> Any:
            kwargs, stream, hide = prepare(kwargs)
            base = fields(kwargs, new_id("e_"), now_ms())
            started = time.monotonic()
            try:
                response = await original(*args, **kwargs)
            except Exception:
                record_error(base, started)
                raise
            if stream:
                return wrap_stream(response, base, started, hide)
            record_response(response, base, started)
            return response

        completions.create = create_async
    else:
        @functools.wraps(original)
        def create(*args: Any, **kwargs: Any) -> Any:
            kwargs, stream, hide = prepare(kwargs)
            base = fields(kwargs, new_id("e_"), now_ms())
            started = time.monotonic()
            try:
                response = original(*args, **kwargs)
            except Exception:
                record_error(base, started)
                raise
            if stream:
                return wrap_stream(response, base, started, hide)
            record_response(response, base, started)
            return response

        completions.create = create
    setattr(completions, _MARK, True)
    return client
