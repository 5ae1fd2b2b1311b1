"""The calls every real producer makes against the fake OpenAI server (tests/ingestion/adapters/fakes.py), so that
each producer's landing files describe the same five completions: two plain, two streamed (with and
without `stream_options.include_usage`) and one that fails with a 500."""

from __future__ import annotations

from tests.ingestion.adapters.fakes import FAILING_MODEL

PII_PROMPT = "I am bob@example.com, call 555-867-5309, SSN 078-05-1120, card 4111 1111 1111 1111"


def messages() -> list[dict[str, str]]:
    return [{"role": "user", "content": PII_PROMPT}]


def calls(client: object, extra: dict) -> list[str]:
    """The same five calls through either client; returns the path each took."""
    done = []
    for model in ("gpt-4o-mini", "gpt-4o-mini"):
        client.chat.completions.create(model=model, messages=messages(), **extra)
        done.append("plain")
    for opts in ({"stream_options": {"include_usage": True}}, {}):
        for _ in client.chat.completions.create(model="gpt-4o", messages=messages(), stream=True, **opts, **extra):
            pass
        done.append("stream")
    try:
        client.chat.completions.create(model=FAILING_MODEL, messages=messages(), **extra)
    except Exception:  # noqa: BLE001 - the 500 is the point
        done.append("error")
    return done
