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
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from ingestion.sdk.emitter import BatchEmitter
from ingestion.sdk.events import new_id, now_ms
from ingestion.sdk.stream import StreamTracker
from ingestion.sdk.tracking import context_fields, track_interaction

_MARK = "_aiw_instrumented"
log = logging.getLogger("ingestion.sdk")

# Per-request fields that are ids: coerced to strings (`user_id=42` is an id, not an error).
_ID_FIELDS = ("feature_id", "session_id", "user_id", "routing_strategy", "provider")


def messages_text(messages: Iterable[Any] | None) -> str | None:
    """The text of chat messages, for hashing only (content strings and text parts, in order).

    Only a list or tuple is read: a generator or other one-shot iterable belongs to the provider, which
    must receive every message, so its prompt is left unhashed (null `prompt_hash`).
    """
    if not messages or not isinstance(messages, Sequence) or isinstance(messages, (str, bytes)):
        return None
    parts: list[str] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else getattr(message, "content", None)
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(text for p in content if isinstance(p, dict) and p.get("type") == "text"
                         and isinstance(text := p.get("text"), str))
    return "\n".join(parts)


def _quietly(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run an SDK step inside the caller's call: log a failure, never raise it into the application."""
    try:
        return fn(*args, **kwargs)
    except Exception:
        log.warning("aiw: could not %s; the call itself is unaffected", what, exc_info=True)
        return None


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
        out = {k: (str(v) if k in _ID_FIELDS else v) for k, v in out.items() if v is not None}
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

        return StreamTracker(stream, started_at=started, on_finish=lambda r: _quietly("record a stream", finish, r),
                             hide_usage_chunk=hide)

    def begin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[dict[str, Any], bool, bool,
                                                                      dict[str, Any] | None]:
        """The provider's kwargs (with include_usage when asked) and the event fields; on any SDK failure,
        the caller's own kwargs and no event."""
        try:
            sent, stream, hide = prepare(kwargs)
            return sent, stream, hide, fields(sent, new_id("e_"), now_ms())
        except Exception:
            log.warning("aiw: could not prepare the event for this call; it is not recorded", exc_info=True)
            return kwargs, bool(kwargs.get("stream")) if isinstance(kwargs, dict) else False, False, None

    def after(response: Any, base: dict[str, Any] | None, started: float, stream: bool, hide: bool) -> Any:
        if base is None:
            return response
        if stream:
            wrapped = _quietly("track a stream", wrap_stream, response, base, started, hide)
            return response if wrapped is None else wrapped
        _quietly("record a call", record_response, response, base, started)
        return response

    if _is_async(client, original):
        @functools.wraps(original)
        async def create_async(*args: Any, **kwargs: Any) -> Any:
            kwargs, stream, hide, base = begin(args, kwargs)
            started = time.monotonic()
            try:
                response = await original(*args, **kwargs)
            except Exception:
                if base is not None:
                    _quietly("record a failed call", record_error, base, started)
                raise
            return after(response, base, started, stream, hide)

        completions.create = create_async
    else:
        @functools.wraps(original)
        def create(*args: Any, **kwargs: Any) -> Any:
            kwargs, stream, hide, base = begin(args, kwargs)
            started = time.monotonic()
            try:
                response = original(*args, **kwargs)
            except Exception:
                if base is not None:
                    _quietly("record a failed call", record_error, base, started)
                raise
            return after(response, base, started, stream, hide)

        completions.create = create
    setattr(completions, _MARK, True)
    return client
