"""The collector's settings, their defaults and the environment variables that override the defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TOKEN_ENV = "AIW_COLLECTOR_TOKEN"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4318  # the OTLP/HTTP port, so an OpenTelemetry exporter finds it with only a host name
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
# Big enough that the loader sees few files, small enough that one loads in about a second.
DEFAULT_ROTATE_BYTES = 64 * 1024 * 1024
# How long an acknowledged event may wait under a temporary name before the loader can see it.
DEFAULT_ROTATE_SECONDS = 60.0


def env_int(name: str, default: int) -> int:
    """An integer from the environment, or the default when unset or empty."""
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not an integer") from None


def env_float(name: str, default: float) -> float:
    """A number from the environment, or the default when unset or empty."""
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a number") from None


@dataclass(frozen=True)
class CollectorSettings:
    """What the collector app needs to run: where to write, limits, rotation and the token."""

    home: Path  # AIW_HOME
    token: str | None  # None only with --insecure-dev
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    rotate_bytes: int = DEFAULT_ROTATE_BYTES
    rotate_seconds: float = DEFAULT_ROTATE_SECONDS
