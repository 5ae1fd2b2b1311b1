"""Benchmark of the SDK's caller-side cost and the emitter's sustained throughput to landing files.

    python benchmarks/bench_sdk.py [--events 200000] [--throughput-events 200000]

Prints:
- the median (and p99) microseconds per `track_interaction` + enqueue, timed one call at a time;
- events/s from one thread calling `track_interaction` back to back (the emitter sending meanwhile);
- the emitter's sustained throughput to the landing transport (fsynced files of 100 events), end to end:
  from the first emit to the last batch acknowledged by `close()`.
Targets: under 20 microseconds median, at least 50k events/s from one thread.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from ingestion.layout import Layout
from ingestion.sdk import BatchEmitter, LandingTransport, track_interaction

PROMPT = ("You are a helpful assistant for an online store. Answer the customer's question using the order "
          "history below.\nOrder 1182: 2 items shipped on March 3, delivered March 6.\nQuestion: where is my "
          "second parcel, the tracking page says it left the warehouse yesterday?")
RESPONSE = ("Your second parcel left our warehouse yesterday and is on its way; deliveries usually take two to "
            "three working days. You can follow it on the tracking page, which updates every few hours.")


def one_call(emitter: BatchEmitter, i: int) -> None:
    track_interaction(feature_id="support_chat", model_id="gpt-4o-mini", model_version="2024-07-18",
                      session_id=f"s_{i // 8}", user_id=f"u_{i % 5000}", prompt=PROMPT, response=RESPONSE,
                      prompt_tokens=1200 + i % 300, cached_tokens=1024, completion_tokens=180 + i % 50,
                      ttft_ms=240.0, total_latency_ms=850.0 + i % 1000, routing_strategy="primary",
                      provider="openai", emitter=emitter)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="calls for the caller-side measurements")
    parser.add_argument("--throughput-events", type=int, default=200_000, help="events for the landing test")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        layout = Layout(Path(tmp) / "home")
        # Caller side: a large queue so nothing is dropped; the emitter writes landing files meanwhile.
        emitter = BatchEmitter(LandingTransport(layout), spill_dir=Path(tmp) / "spill",
                               max_queue=max(args.events, 100), at_exit=False)
        for i in range(2000):  # warm up: imports, price cache, lru caches
            one_call(emitter, i)
        samples = []
        clock = time.perf_counter_ns
        for i in range(args.events // 2):
            t0 = clock()
            one_call(emitter, i)
            samples.append(clock() - t0)
        samples.sort()
        median_us = statistics.median(samples) / 1000
        p99_us = samples[int(len(samples) * 0.99)] / 1000
        n = args.events // 2
        t0 = time.perf_counter()
        for i in range(n):
            one_call(emitter, i)
        per_thread = n / (time.perf_counter() - t0)
        stats = emitter.close(timeout=120)
        print(f"track_interaction + enqueue: median {median_us:.1f} us, p99 {p99_us:.1f} us per event "
              f"(target < 20 us)")
        print(f"one thread, back to back:    {per_thread:,.0f} events/s (target >= 50,000)")
        print(f"  emitter after close: sent={stats.sent:,} dropped={stats.dropped} spilled={stats.spilled}")

        # Sustained throughput to the landing transport: enqueue everything, time until all are on disk.
        layout2 = Layout(Path(tmp) / "home2")
        emitter = BatchEmitter(LandingTransport(layout2), spill_dir=Path(tmp) / "spill2",
                               max_queue=args.throughput_events, at_exit=False)
        records = [{"event_id": f"e_{i}", "schema_version": "1.1", "n": i} for i in range(args.throughput_events)]
        t0 = time.perf_counter()
        for record in records:
            emitter.emit(record)
        stats = emitter.close(timeout=600)
        seconds = time.perf_counter() - t0
        files = sum(1 for _ in layout2.landing_dir("native").rglob("*.ndjson"))
        print(f"emitter -> landing transport: {stats.sent / seconds:,.0f} events/s sustained "
              f"({stats.sent:,} events in {files:,} fsynced files of <= 100, {seconds:.2f} s)")


if __name__ == "__main__":
    main()
