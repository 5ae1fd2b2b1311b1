"""`aiw collector`: command-line options and the uvicorn server that runs the collector app.

`add_arguments` and `run` let the main `aiw` CLI mount this as a subcommand; `main` runs it on its own
(`python -m ingestion.collector`).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys

from ingestion.collector.settings import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_HOST,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_INLINE_PARSE_BYTES,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_GZIP_MEMBERS,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_RECORDS,
    DEFAULT_PARSE_WORKERS,
    DEFAULT_PORT,
    DEFAULT_ROTATE_BYTES,
    DEFAULT_ROTATE_SECONDS,
    TOKEN_ENV,
    CollectorSettings,
    env_float,
    env_int,
)
from ingestion.layout import Layout

log = logging.getLogger("aiw.collector")

# CollectorSettings fields set from the limit options of the same name.
LIMIT_SETTINGS = ("idle_timeout", "header_timeout", "body_timeout", "max_header_bytes", "max_connections",
                  "max_records", "max_gzip_members", "inline_parse_bytes", "parse_workers")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the collector's options to `parser` (its own, or the `aiw collector` subparser)."""
    parser.add_argument("--host", default=os.environ.get("AIW_COLLECTOR_HOST", DEFAULT_HOST),
                        help="interface to listen on (env AIW_COLLECTOR_HOST; default %(default)s)")
    parser.add_argument("--port", type=int, default=env_int("AIW_COLLECTOR_PORT", DEFAULT_PORT),
                        help="TCP port (env AIW_COLLECTOR_PORT; default %(default)s, the OTLP/HTTP port)")
    parser.add_argument("--max-body-bytes", type=int,
                        default=env_int("AIW_COLLECTOR_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
                        help="largest accepted request body, before and after gzip, else 413 "
                             "(env AIW_COLLECTOR_MAX_BODY_BYTES; default %(default)s)")
    parser.add_argument("--rotate-bytes", type=int,
                        default=env_int("AIW_COLLECTOR_ROTATE_BYTES", DEFAULT_ROTATE_BYTES),
                        help="finalize a landing file once it holds this many bytes "
                             "(env AIW_COLLECTOR_ROTATE_BYTES; default %(default)s)")
    parser.add_argument("--rotate-seconds", type=float,
                        default=env_float("AIW_COLLECTOR_ROTATE_SECONDS", DEFAULT_ROTATE_SECONDS),
                        help="finalize a landing file once it is this old, so the loader sees it "
                             "(env AIW_COLLECTOR_ROTATE_SECONDS; default %(default)s)")
    # Limits and timeouts against clients that hold connections or CPU (docs/collector.md).
    limits = [
        ("--idle-timeout", float, "AIW_COLLECTOR_IDLE_TIMEOUT", DEFAULT_IDLE_TIMEOUT,
         "close a connection with no request in progress after this many seconds"),
        ("--header-timeout", float, "AIW_COLLECTOR_HEADER_TIMEOUT", DEFAULT_HEADER_TIMEOUT,
         "seconds from a request's first byte to the end of its header, else 408 and closed"),
        ("--body-timeout", float, "AIW_COLLECTOR_BODY_TIMEOUT", DEFAULT_BODY_TIMEOUT,
         "seconds from the end of the header to the end of the body, else 408 and closed (nothing stored)"),
        ("--max-header-bytes", int, "AIW_COLLECTOR_MAX_HEADER_BYTES", DEFAULT_MAX_HEADER_BYTES,
         "largest request line + headers, else 431"),
        ("--max-connections", int, "AIW_COLLECTOR_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS,
         "open connections beyond which requests are answered 503 (lowered to fit the open-file limit)"),
        ("--max-records", int, "AIW_COLLECTOR_MAX_RECORDS", DEFAULT_MAX_RECORDS,
         "most records (or OTLP spans) in one request, else 413"),
        ("--max-gzip-members", int, "AIW_COLLECTOR_MAX_GZIP_MEMBERS", DEFAULT_MAX_GZIP_MEMBERS,
         "most gzip members in one body, else 413"),
        ("--inline-parse-bytes", int, "AIW_COLLECTOR_INLINE_PARSE_BYTES", DEFAULT_INLINE_PARSE_BYTES,
         "bodies larger than this once decompressed are parsed in a worker process"),
        ("--parse-workers", int, "AIW_COLLECTOR_PARSE_WORKERS", DEFAULT_PARSE_WORKERS,
         "worker processes for large bodies"),
    ]
    for flag, kind, env, default, text in limits:
        parser.add_argument(flag, type=kind, default=(env_float if kind is float else env_int)(env, default),
                            help=f"{text} (env {env}; default %(default)s)")
    parser.add_argument("--insecure-dev", action="store_true",
                        help=f"run without a token when {TOKEN_ENV} is unset (local development only)")
    parser.add_argument("--log-level", default=os.environ.get("AIW_COLLECTOR_LOG_LEVEL", "info"),
                        choices=["critical", "error", "warning", "info", "debug"],
                        help="log level (env AIW_COLLECTOR_LOG_LEVEL; default %(default)s)")
    parser.add_argument("--access-log", action="store_true", help="log every request (slows the collector)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def settings_from(args: argparse.Namespace) -> CollectorSettings:
    """Settings from parsed options and the environment; SystemExit with the reason when they are unusable."""
    token = os.environ.get(TOKEN_ENV, "").strip() or None
    if token is None and not args.insecure_dev:
        raise SystemExit(f"aiw collector: refusing to start without a token. Set {TOKEN_ENV} (for example "
                         f"`export {TOKEN_ENV}=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')`) "
                         "or pass --insecure-dev for local development.")
    positive = ("max_body_bytes", "rotate_bytes", "rotate_seconds", *LIMIT_SETTINGS)
    for name in positive:
        if getattr(args, name) <= 0:
            raise SystemExit(f"aiw collector: --{name.replace('_', '-')} must be positive")
    return CollectorSettings(home=Layout.from_env().home, token=token, max_body_bytes=args.max_body_bytes,
                             rotate_bytes=args.rotate_bytes, rotate_seconds=args.rotate_seconds,
                             **{name: getattr(args, name) for name in LIMIT_SETTINGS})


def run(args: argparse.Namespace) -> int:
    """Serve the collector until SIGINT/SIGTERM; open files are finalized on the way out."""
    import uvicorn

    from ingestion.collector.app import create_app
    from ingestion.collector.protocol import guard_for, protocol_for, raise_open_file_limit

    try:
        settings = settings_from(args)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.token is None:
        log.warning("running WITHOUT authentication (--insecure-dev): anyone who can reach %s:%s can write events",
                    args.host, args.port)
        if not _is_loopback(args.host):
            log.warning("--insecure-dev on a non-loopback interface (%s): do not do this outside a sandbox", args.host)
    elif len(settings.token) < 16:
        log.warning("%s is shorter than 16 characters: use a long random token", TOKEN_ENV)
    log.info("collector writing under %s/landing, listening on http://%s:%s", settings.home, args.host, args.port)
    open_files = raise_open_file_limit()
    guard = guard_for(idle_timeout=settings.idle_timeout, header_timeout=settings.header_timeout,
                      body_timeout=settings.body_timeout, max_header_bytes=settings.max_header_bytes,
                      max_connections=settings.max_connections, open_file_limit=open_files)
    log.info("open-file limit %d: up to %d connections, 503 beyond", open_files, guard.max_connections)
    # http=: uvicorn's httptools protocol with the collector's timeouts and limits (protocol.py).
    # timeout_keep_alive: uvicorn's idle timer after an answer, the same as ours.
    config = uvicorn.Config(create_app(settings), host=args.host, port=args.port, log_level=args.log_level,
                            access_log=args.access_log, server_header=False, timeout_graceful_shutdown=10,
                            proxy_headers=False, http=protocol_for(guard),
                            timeout_keep_alive=settings.idle_timeout)  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


def main(argv: list[str] | None = None) -> int:
    """Run the collector from the command line."""
    parser = argparse.ArgumentParser(prog="aiw collector",
                                     description="HTTP collector: events, feedback and OTLP traces -> landing files")
    add_arguments(parser)
    return run(parser.parse_args(argv))
