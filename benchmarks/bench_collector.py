"""Load benchmark for the collector: many concurrent connections POST batches over loopback; nothing may be lost.

Starts `python -m ingestion.collector` on 127.0.0.1 with a temporary AIW_HOME and a random token, sends
`--events` native events in JSON-array batches of `--batch` over `--connections` keep-alive connections, then
stops the collector gracefully and counts what landed. It prints events/s, p50/p99 acknowledgement latency and
the acknowledged vs found counts, and exits non-zero if they differ (or any acknowledged event_id is missing).

Bounded: it sends at most `--events` events and stops issuing requests after `--max-seconds`.

    python benchmarks/bench_collector.py                       # 1M events, batches of 100, 32 connections
    python benchmarks/bench_collector.py --events 20000 --connections 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PLACEHOLDER = b"@@@@@@@@@@"  # replaced by the request number (10 digits) in every event_id of a batch

try:  # uvloop makes the client cheaper, leaving more of the 2 cores to the collector
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None


def event_template(i: int) -> dict[str, object]:
    """A realistic native interaction (~500 bytes, like the synthetic data) with a placeholder id."""
    now_ms = int(time.time() * 1000)
    return {
        "schema_version": "1.1", "event_id": f"bench-{PLACEHOLDER.decode()}-{i:03d}",
        "session_id": f"s-bench-{i % 17:04d}", "user_id": f"u_{i % 53:05d}", "timestamp": now_ms - i * 37,
        "feature_id": "chat_assistant", "model_id": "gpt-4o", "model_version": "2024-08-06",
        "routing_strategy": "primary", "ttft_ms": 412.5 + i, "total_latency_ms": 2210.0 + i,
        "stream_chunks_received": 88, "prompt_tokens": 1800 + i, "completion_tokens": 350, "cached_tokens": 512,
        "estimated_cost_usd": 0.00757, "user_regenerated": False, "user_edited_output": False,
        "explicit_rating": None, "implicit_quality_score": 1.0, "provider": "openai",
        "prompt_hash": "9f2c4e6a1b3d5f7e9f2c4e6a1b3d5f7e", "response_hash": f"r{i:031d}",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    }


def batch_template(batch: int) -> list[bytes]:
    body = json.dumps([event_template(i) for i in range(batch)], separators=(",", ":")).encode()
    return body.split(PLACEHOLDER)


@dataclass
class Tally:
    """What the load generator sent and what the collector acknowledged."""

    next_request: int = 0
    acked_requests: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)


async def connection(port: int, token: str, parts: list[bytes], requests: int, deadline: float, tally: Tally) -> None:
    """One keep-alive connection sending requests until none are left or the deadline passes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (f"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\n").encode()
    try:
        while tally.next_request < requests and time.monotonic() < deadline:
            number = tally.next_request
            tally.next_request += 1
            body = (b"%010d" % number).join(parts)
            started = time.perf_counter()
            writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            status_head = await reader.readuntil(b"\r\n\r\n")
            status = int(status_head.split(b" ", 2)[1])
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", status_head).group(1))
            await reader.readexactly(length)
            if status == 200:
                tally.latencies.append(time.perf_counter() - started)
                tally.acked_requests.append(number)
            else:
                tally.errors[str(status)] = tally.errors.get(str(status), 0) + 1
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        tally.errors[type(exc).__name__] = tally.errors.get(type(exc).__name__, 0) + 1
    finally:
        writer.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_collector(home: Path, port: int, token: str, rotate_bytes: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AIW_HOME": str(home), "AIW_COLLECTOR_TOKEN": token}
    proc = subprocess.Popen([sys.executable, "-m", "ingestion.collector", "--port", str(port),
                             "--log-level", "warning", "--rotate-bytes", str(rotate_bytes)], env=env)
    until = time.monotonic() + 30
    while time.monotonic() < until:
        if proc.poll() is not None:
            raise SystemExit(f"collector exited with {proc.returncode} during start-up")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("collector did not answer /healthz within 30 s")


def count_landed(home: Path) -> tuple[int, int, set[bytes]]:
    """(lines in finalized files, temporary files left, event_ids found) under landing/native."""
    lines, leftovers, ids = 0, 0, set()
    id_pattern = re.compile(rb'"event_id":"bench-(\d{10}-\d{3})"')
    for path in (home / "landing" / "native").rglob("*"):
        if not path.is_file():
            continue
        if path.name.startswith("."):
            leftovers += 1
            continue
        data = path.read_bytes()
        lines += data.count(b"\n")
        ids.update(id_pattern.findall(data))
    return lines, leftovers, ids


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile (like numpy's default) of an already sorted list."""
    if not sorted_values:
        return float("nan")
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


async def drive(port: int, token: str, args: argparse.Namespace, tally: Tally) -> float:
    parts = batch_template(args.batch)
    requests = -(-args.events // args.batch)
    deadline = time.monotonic() + args.max_seconds
    started = time.perf_counter()
    await asyncio.gather(*(connection(port, token, parts, requests, deadline, tally)
                           for _ in range(args.connections)))
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--max-seconds", type=float, default=300.0, help="stop sending after this long")
    parser.add_argument("--rotate-bytes", type=int, default=64 * 1024 * 1024)
    parser.add_argument("--home", type=Path, help="AIW_HOME to write to (default: a temporary directory, removed)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)

    home = args.home or Path(tempfile.mkdtemp(prefix="aiw-bench-collector-"))
    token = secrets.token_urlsafe(24)
    port = free_port()
    proc = start_collector(home, port, token, args.rotate_bytes)
    tally = Tally()
    try:
        if uvloop is not None:
            uvloop.install()
        seconds = asyncio.run(drive(port, token, args, tally))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            flushes = json.load(resp)["flushes"]["native"]
    finally:
        proc.send_signal(signal.SIGTERM)  # graceful: the open file is finalized
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    try:
        landed, leftovers, found_ids = count_landed(home)
        acked = len(tally.acked_requests) * args.batch
        missing = sum(1 for n in tally.acked_requests for i in range(args.batch)
                      if b"%010d-%03d" % (n, i) not in found_ids)
        lat = sorted(tally.latencies)
        figures = {
            "events_requested": args.events, "batch": args.batch, "connections": args.connections,
            "seconds": round(seconds, 3), "events_acknowledged": acked,
            "events_per_second": round(acked / seconds) if seconds else 0,
            "ack_latency_p50_ms": round(percentile(lat, 0.50) * 1000, 2),
            "ack_latency_p99_ms": round(percentile(lat, 0.99) * 1000, 2),
            "fsyncs": flushes,
            "requests_per_fsync": round(len(tally.acked_requests) / flushes, 1) if flushes else 0.0,
            "events_found_in_landing": landed, "acknowledged_missing": missing, "temp_files_left": leftovers,
            "errors": tally.errors, "collector_exit": proc.returncode,
        }
    finally:
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"collector benchmark: {acked:,} events acknowledged in {seconds:.2f} s over {args.connections} "
              f"connections, batches of {args.batch}")
        print(f"  throughput      {figures['events_per_second']:,} events/s")
        print(f"  ack latency     p50 {figures['ack_latency_p50_ms']} ms, p99 {figures['ack_latency_p99_ms']} ms")
        print(f"  group commit    {flushes:,} write+fsync for {len(tally.acked_requests):,} requests "
              f"({figures['requests_per_fsync']} requests per fsync)")
        print(f"  landing         {landed:,} events found, {acked:,} acknowledged, {missing} acknowledged missing, "
              f"{leftovers} temporary files left")
        if tally.errors:
            print(f"  errors          {tally.errors}")
    ok = landed == acked and missing == 0 and leftovers == 0 and acked > 0
    if not ok:
        print("FAILED: landing does not match what was acknowledged", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
