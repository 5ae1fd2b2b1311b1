"""Hostile clients against the collector: how long a health check takes while each attack runs, and what the
attacker gets.

Starts `python -m ingestion.collector` on a free 127.0.0.1 port with a temporary AIW_HOME, then runs each attack
`--tries` times. During an attack a prober thread sends `GET /healthz` on a fresh connection every 20 ms; a try's
figure is the slowest health check seen while the attack ran (a refused or failed check counts as the time it took
to fail, and is reported). The script prints, per attack, the median over the tries of that slowest health check
and what the attacker's connection got (status, or how and after how long it was closed), plus the collector's
resident memory growth.

Attacks: an idle connection (sends nothing), a header sent one byte per 200 ms, a 100 MiB header without an end,
`--connections` idle connections then a legitimate request, a body of 100,000 empty gzip members, a JSON array of
1,000,000 empty objects; and, for comparison, a legitimate batch of 90,000 records.

    python benchmarks/bench_collector_hostile.py                     # every attack, 3 tries each
    python benchmarks/bench_collector_hostile.py --attack gzip --tries 5 --json
    python benchmarks/bench_collector_hostile.py --collector-arg=--header-timeout --collector-arg=2
    python benchmarks/bench_collector_hostile.py --attack connections --nofile 256 --repo ../other-checkout
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import resource
import secrets
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Target:
    """The collector under attack."""

    def __init__(self, home: Path, extra_args: list[str], repo: Path = REPO, nofile: int | None = None) -> None:
        self.port = free_port()
        self.token = secrets.token_urlsafe(24)
        env = {**os.environ, "AIW_HOME": str(home), "AIW_COLLECTOR_TOKEN": self.token}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ingestion.collector", "--port", str(self.port), "--log-level", "error",
             *extra_args], env=env, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))) if nofile else None)
        until = time.monotonic() + 30
        while time.monotonic() < until:
            try:
                if self.health(2.0)[0] == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("collector did not start")

    def health(self, timeout: float = 10.0) -> tuple[int, float]:
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", "/healthz")
            status = conn.getresponse().status
        finally:
            conn.close()
        return status, time.perf_counter() - started

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def post(self, body: bytes, headers: dict[str, str], timeout: float = 120.0) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("POST", "/v1/events", body=body,
                         headers={"Authorization": f"Bearer {self.token}", **headers})
            resp = conn.getresponse()
            return f"{resp.status} {resp.read()[:120].decode(errors='replace')}"
        except OSError as exc:
            return f"connection error: {exc!r}"
        finally:
            conn.close()

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


def wait_closed(sock: socket.socket, limit: float) -> str:
    """What a connection that sent nothing more gets within `limit` seconds."""
    sock.settimeout(limit)
    started = time.monotonic()
    try:
        data = sock.recv(65536)
    except TimeoutError:
        return f"still open after {limit:.0f} s"
    except OSError as exc:
        return f"reset after {time.monotonic() - started:.1f} s ({exc.__class__.__name__})"
    status = data.split(b"\r\n", 1)[0].decode(errors="replace") if data else "closed without an answer"
    return f"{status} after {time.monotonic() - started:.1f} s"


def attack_idle(t: Target, a: argparse.Namespace) -> str:
    with socket.create_connection(("127.0.0.1", t.port)) as s:
        return wait_closed(s, a.hold)


def attack_slow_header(t: Target, a: argparse.Namespace) -> str:
    with socket.create_connection(("127.0.0.1", t.port)) as s:
        s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        started = time.monotonic()
        try:
            while time.monotonic() - started < a.hold:
                s.sendall(b"a")
                if select.select([s], [], [], 0.2)[0]:  # the collector answered or closed
                    return wait_closed(s, 1).split(" after ")[0] + f" after {time.monotonic() - started:.1f} s"
        except OSError as exc:
            return f"closed after {time.monotonic() - started:.1f} s ({exc.__class__.__name__})"
        return f"still open after {a.hold:.0f} s of dripping"


def attack_big_header(t: Target, a: argparse.Namespace) -> str:
    before = t.rss_mib()
    peak = before
    sent = 0
    with socket.create_connection(("127.0.0.1", t.port)) as s:
        s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Big: ")
        chunk = b"a" * MIB
        try:
            for _ in range(100):
                s.sendall(chunk)
                sent += 1
                peak = max(peak, t.rss_mib())
        except OSError as exc:
            return (f"closed after {sent} MiB sent ({exc.__class__.__name__}); collector RSS +{peak - before:.0f} MiB")
        got = wait_closed(s, 5)
    return f"all 100 MiB sent, then {got}; collector RSS +{peak - before:.0f} MiB"


def attack_connections(t: Target, a: argparse.Namespace) -> str:
    socks, failed = [], 0
    for _ in range(a.connections):
        try:
            socks.append(socket.create_connection(("127.0.0.1", t.port), timeout=5))
        except OSError:
            failed += 1
    try:
        time.sleep(0.5)
        legit = t.post(json.dumps([{"event_id": "legit-1"}]).encode(), {"Content-Type": "application/json"},
                       timeout=10)
        return f"{len(socks)} opened ({failed} failed); a legitimate request then got: {legit}"
    finally:
        for s in socks:
            s.close()


# Bodies are built once, before any health check is timed: building them in this process would hold its GIL
# and delay the prober thread, which would then measure the load generator rather than the collector.
GZIP_MEMBERS = gzip.compress(b"") * 100_000
MILLION_OBJECTS = b"[" + b",".join([b"{}"] * 1_000_000) + b"]"
# Not hostile: the largest batch of real-looking records under the default limits (90,000, about 7 MB).
LARGE_BATCH = json.dumps([{"event_id": f"big-{i}", "session_id": f"s{i % 7}", "prompt_tokens": i,
                           "model_id": "gpt-4o"} for i in range(90_000)]).encode()


def attack_gzip(t: Target, a: argparse.Namespace) -> str:
    return t.post(GZIP_MEMBERS, {"Content-Encoding": "gzip", "Content-Type": "application/json"})


def attack_array(t: Target, a: argparse.Namespace) -> str:
    return t.post(MILLION_OBJECTS, {"Content-Type": "application/json"})


def attack_large_batch(t: Target, a: argparse.Namespace) -> str:
    return t.post(LARGE_BATCH, {"Content-Type": "application/json"})


ATTACKS: dict[str, Callable[[Target, argparse.Namespace], str]] = {
    "idle": attack_idle, "slow-header": attack_slow_header, "big-header": attack_big_header,
    "connections": attack_connections, "gzip": attack_gzip, "array": attack_array,
    "large-batch": attack_large_batch,
}


def one_try(t: Target, attack: Callable[[Target, argparse.Namespace], str], a: argparse.Namespace) -> dict:
    latencies: list[float] = []
    failures: list[str] = []
    done = threading.Event()

    def probe() -> None:
        while not done.is_set():
            started = time.perf_counter()
            try:
                status, took = t.health(timeout=30)
                latencies.append(took)
                if status != 200:
                    failures.append(f"healthz {status}")
            except OSError as exc:
                latencies.append(time.perf_counter() - started)
                failures.append(repr(exc))
            time.sleep(0.02)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    result = attack(t, a)
    done.set()
    prober.join(timeout=60)
    return {"attacker_got": result, "max_health_s": max(latencies) if latencies else float("nan"),
            "median_health_s": statistics.median(latencies) if latencies else float("nan"),
            "health_checks": len(latencies), "health_failures": failures[:3], "n_failures": len(failures)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--attack", choices=[*ATTACKS, "all"], default="all")
    p.add_argument("--tries", type=int, default=3)
    p.add_argument("--hold", type=float, default=30.0, help="how long idle/slow attackers wait (s)")
    p.add_argument("--connections", type=int, default=2000)
    p.add_argument("--collector-arg", action="append", default=[], help="extra collector option (repeatable)")
    p.add_argument("--nofile", type=int, help="run the collector with this open-file limit (soft = hard)")
    p.add_argument("--repo", type=Path, default=REPO, help="checkout whose collector to attack (default: this one)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < a.connections + 100:  # the load generator needs the descriptors too
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.connections + 100), hard))
    report = {}
    with tempfile.TemporaryDirectory(prefix="aiw-hostile-") as tmp:
        for name in ATTACKS if a.attack == "all" else [a.attack]:
            tries = []
            for _ in range(a.tries):  # a fresh collector per try
                t = Target(Path(tmp) / f"{name}-{len(tries)}", a.collector_arg, a.repo, a.nofile)
                try:
                    tries.append(one_try(t, ATTACKS[name], a))
                finally:
                    t.stop()
            report[name] = {"slowest_health_check_s_median": statistics.median(x["max_health_s"] for x in tries),
                            "tries": tries}
            if not a.json:
                print(f"{name:12} slowest health check (median of {a.tries}): "
                      f"{report[name]['slowest_health_check_s_median'] * 1000:8.1f} ms; "
                      f"failed checks {[x['n_failures'] for x in tries]}; attacker got: {tries[0]['attacker_got']}",
                      flush=True)
    if a.json:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
