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

# Guards against clients that hold connections or CPU (docs/collector.md "Limits and timeouts").
# A connection with no request in progress is closed after this long (before its first request, and between).
DEFAULT_IDLE_TIMEOUT = 5.0
# From a request's first byte to the end of its header; a slowloris client that drips bytes is cut off here.
DEFAULT_HEADER_TIMEOUT = 10.0
# From the end of the header to the end of the body: 10 MiB at about 1.5 Mbit/s.
DEFAULT_BODY_TIMEOUT = 60.0
# Request line and headers together; real clients send well under 8 KiB (nginx refuses above 8 KiB per line).
DEFAULT_MAX_HEADER_BYTES = 64 * 1024
# Open connections before requests are answered 503 (lowered automatically to fit the open-file limit).
DEFAULT_MAX_CONNECTIONS = 1000
# Records (or OTLP spans) in one request; SDK batches hold 100, a 10 MiB body of real events about 20,000.
DEFAULT_MAX_RECORDS = 100_000
# gzip members in one body: a normal client sends one; each member costs a decompressor.
DEFAULT_MAX_GZIP_MEMBERS = 1000
# Bodies larger than this (once decompressed) are parsed in a worker process, so that even one long C call
# (orjson parsing millions of tiny values holds the GIL) cannot delay other requests; smaller ones on a thread.
DEFAULT_INLINE_PARSE_BYTES = 256 * 1024
DEFAULT_PARSE_WORKERS = 2


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
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_records: int = DEFAULT_MAX_RECORDS
    max_gzip_members: int = DEFAULT_MAX_GZIP_MEMBERS
    inline_parse_bytes: int = DEFAULT_INLINE_PARSE_BYTES
    parse_workers: int = DEFAULT_PARSE_WORKERS
