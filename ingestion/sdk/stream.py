"""StreamTracker: measures a streamed model response while the caller consumes it, then records it.

It yields exactly what the provider's stream yields (optionally hiding a usage-only final chunk the SDK
asked for), so wrapping a stream changes nothing for the code reading it. It measures:
- TTFT: monotonic time from the call start (`started_at`) to the arrival of the first chunk;
- the real number of chunks received;
- tokens from the provider's final usage chunk when there is one. Without it, the recorded event carries
  null tokens and a null cost (unknown, as the contract asks), and the tracker's result offers an estimate
  (one token per content chunk, the granularity OpenAI-compatible servers stream at) flagged as one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ingestion.sdk.events import HASH_PREFIX_CHARS
from ingestion.sdk.tracking import track_interaction, usage_tokens


@dataclass
class StreamResult:
    """What a finished stream measured."""

    ttft_ms: float | None
    total_latency_ms: float
    chunks: int
    content_chunks: int
    usage: Any  # the provider's usage object, or None
    model: str | None  # the model the provider said served the stream (e.g. a dated snapshot)
    response_prefix: str = field(repr=False, default="")  # for hashing only; never recorded
    error: BaseException | None = None
    tokens: dict[str, int | None] = field(default_factory=dict)
    tokens_estimated: bool = False
    estimated_completion_tokens: int | None = None


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _delta_text(chunk: Any) -> str | None:
    """Text of the first choice's delta in an OpenAI-style chunk (object or dict)."""
    choices = _get(chunk, "choices")
    if not choices:
        return None
    delta = _get(choices[0], "delta")
    return _get(delta, "content") if delta is not None else None


class StreamTracker:
    """Wraps a sync or async streaming response; records one interaction when the stream ends.

    Pass the `track_interaction` fields (feature_id, model_id, session_id, ...) as keyword arguments, or an
    `on_finish(result)` callback to record it yourself. The event is recorded when the stream is exhausted,
    fails (is_error), or is closed early.
    """

    def __init__(self, stream: Any, *, started_at: float | None = None,
                 on_finish: Callable[[StreamResult], None] | None = None, hide_usage_chunk: bool = False,
                 **track_fields: Any) -> None:
        self._stream = stream
        self._started = started_at if started_at is not None else time.monotonic()
        self._on_finish = on_finish
        self._hide_usage_chunk = hide_usage_chunk
        self._track_fields = track_fields
        self._is_async = hasattr(stream, "__anext__") or (hasattr(stream, "__aiter__")
                                                          and not hasattr(stream, "__next__"))
        self._iter: Any = None
        self._first: float | None = None
        self._chunks = self._content_chunks = 0
        self._usage: Any = None
        self._model: str | None = None
        self._parts: list[str] = []
        self._prefix_len = 0
        self._done = False
        self.result: StreamResult | None = None
        self.event: dict[str, Any] | None = None

    # -- sync ----------------------------------------------------------------------------------

    def __iter__(self) -> StreamTracker:
        return self

    def __next__(self) -> Any:
        if self._iter is None:
            self._iter = iter(self._stream)
        while True:
            try:
                chunk = next(self._iter)
            except StopIteration:
                self._finish(None)
                raise
            except Exception as exc:
                self._finish(exc)
                raise
            if self._observe(chunk):
                return chunk

    def __enter__(self) -> StreamTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop early: records what was received so far and closes the provider's stream."""
        self._finish(None)
        closer = getattr(self._stream, "close", None)
        if closer is not None and not self._is_async:
            closer()

    # -- async ---------------------------------------------------------------------------------

    def __aiter__(self) -> StreamTracker:
        return self

    async def __anext__(self) -> Any:
        if self._iter is None:
            self._iter = self._stream.__aiter__()
        while True:
            try:
                chunk = await self._iter.__anext__()
            except StopAsyncIteration:
                self._finish(None)
                raise
            except Exception as exc:
                self._finish(exc)
                raise
            if self._observe(chunk):
                return chunk

    async def __aenter__(self) -> StreamTracker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Async `close()`."""
        self._finish(None)
        closer = getattr(self._stream, "close", None) or getattr(self._stream, "aclose", None)
        if closer is not None:
            result = closer()
            if hasattr(result, "__await__"):
                await result

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._stream, name)  # e.g. `.response` of an openai Stream

    # -- measuring -----------------------------------------------------------------------------

    def _observe(self, chunk: Any) -> bool:
        """Account for one chunk; False when it is a usage-only chunk to hide from the caller."""
        if self._first is None:
            self._first = time.monotonic()
        self._chunks += 1
        usage = _get(chunk, "usage")
        if usage is not None:
            self._usage = usage
        model = _get(chunk, "model")
        if model:
            self._model = model
        text = _delta_text(chunk)
        if text:
            self._content_chunks += 1
            if self._prefix_len < HASH_PREFIX_CHARS:
                self._parts.append(text)
                self._prefix_len += len(text)
        return not (self._hide_usage_chunk and usage is not None and not _get(chunk, "choices"))

    def _finish(self, error: BaseException | None) -> None:
        if self._done:
            return
        self._done = True
        end = time.monotonic()
        tokens = usage_tokens(self._usage)
        result = StreamResult(
            ttft_ms=None if self._first is None else round((self._first - self._started) * 1000, 3),
            total_latency_ms=round((end - self._started) * 1000, 3), chunks=self._chunks,
            content_chunks=self._content_chunks, usage=self._usage, model=self._model,
            response_prefix="".join(self._parts)[:HASH_PREFIX_CHARS], error=error, tokens=tokens,
            tokens_estimated=self._usage is None,
            estimated_completion_tokens=self._content_chunks if self._usage is None else None)
        self.result = result
        try:
            self._record(result, error, tokens)
        except Exception:  # recording is the SDK's business: the caller's iteration goes on untouched
            logging.getLogger("ingestion.sdk").warning("aiw: could not record a stream", exc_info=True)

    def _record(self, result: StreamResult, error: BaseException | None, tokens: dict[str, Any]) -> None:
        if self._on_finish is not None:
            self._on_finish(result)
        elif self._track_fields:
            fields = dict(self._track_fields)
            is_error = error is not None or bool(fields.pop("is_error", False))
            if result.model and not fields.get("model_version"):
                fields["model_version"] = result.model
            for name, value in tokens.items():
                if value is not None:
                    fields.setdefault(name, value)
            self.event = track_interaction(
                **fields, ttft_ms=result.ttft_ms, total_latency_ms=result.total_latency_ms,
                stream_chunks_received=result.chunks, response=result.response_prefix or None, is_error=is_error)

    def __del__(self) -> None:
        # A caller that stops reading and drops the stream still gets its call recorded.
        try:
            if not self._done and self._chunks:
                self._finish(None)
        except Exception:
            pass
