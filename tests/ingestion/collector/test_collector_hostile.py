"""Hostile and careless clients cannot starve the collector (real HTTP on 127.0.0.1, raw sockets where needed).

Each test runs one attack against a real collector process and checks two things: what the attacker's
connection gets (closed, 408, 413, 431, 503), and that health checks sent meanwhile on fresh connections keep
answering quickly (the event loop is never blocked by one client).
"""

from __future__ import annotations

import gzip
import http.client
import resource
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from .conftest import Collector, landed_lines

# A health check on loopback takes a few ms; the collector promises an answer within 100 ms while it works on a
# hostile request. The slowest check may see one scheduling hiccup of this shared 2-core machine, so that one
# gets a looser bound; before the fixes the checks waited 2-16 s.
HEALTH_P90_S = 0.100
HEALTH_MAX_S = 1.0
MIB = 1024 * 1024


def _start(tmp_path: Path, *args: str, **kwargs: object) -> Collector:
    return Collector(home=tmp_path / "aiw", token="t" * 32, args=list(args), **kwargs).start()


@pytest.fixture
def started() -> Iterator[list[Collector]]:
    """Collectors a test starts, killed at the end whatever happens."""
    collectors: list[Collector] = []
    yield collectors
    for c in collectors:
        c.kill()


def health_during(c: Collector, attack: Callable[[], object], repeat_for: float = 0.0) -> tuple[object, list[float]]:
    """Run `attack` while another thread sends GET /healthz every 10 ms; (attack's result, check latencies).

    With `repeat_for`, the attack is repeated until that many seconds have passed (an attack refused in a few
    milliseconds leaves no time to measure otherwise); every repetition must get the same result.
    """
    latencies: list[float] = []
    errors: list[str] = []
    done = threading.Event()

    def probe() -> None:
        while not done.is_set():
            began = time.perf_counter()
            try:
                status, _ = c.request("GET", "/healthz", auth=False, timeout=30)
                if status != 200:
                    errors.append(f"healthz answered {status}")
            except OSError as exc:
                errors.append(repr(exc))
            latencies.append(time.perf_counter() - began)
            time.sleep(0.01)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    try:
        began = time.monotonic()
        result = attack()
        while time.monotonic() - began < repeat_for:
            assert attack() == result
    finally:
        done.set()
        prober.join(timeout=60)
    assert not errors, errors[:3]
    assert len(latencies) >= 3, "the attack ended before health could be measured"
    return result, latencies


def assert_health_fast(latencies: list[float]) -> None:
    p90 = statistics.quantiles(latencies, n=10)[-1] if len(latencies) >= 10 else max(latencies)
    assert p90 < HEALTH_P90_S, f"90% of health checks took up to {p90 * 1000:.0f} ms (max {max(latencies):.2f} s)"
    assert max(latencies) < HEALTH_MAX_S, f"slowest health check {max(latencies):.2f} s"


def recv_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection (reset counts as closed); and how long."""
    sock.settimeout(timeout)
    began, got = time.monotonic(), b""
    try:
        while chunk := sock.recv(65536):
            got += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"connection still open after {timeout} s (got {got[:80]!r})")
    return got, time.monotonic() - began


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_connection_that_sends_nothing_is_closed(tmp_path: Path, started: list[Collector]) -> None:
    c = _start(tmp_path, "--idle-timeout", "1")
    started.append(c)
    with socket.create_connection(("127.0.0.1", c.port)) as idle:
        got, after = recv_until_closed(idle, timeout=10)
    assert got == b"" and after < 3  # nothing was asked, nothing is answered: just closed
    # A keep-alive connection idle after its answer is closed too.
    conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=10)
    conn.request("GET", "/healthz")
    assert conn.getresponse().read()
    time.sleep(2)
    assert conn.sock is not None and conn.sock.recv(10) == b""
    conn.close()


def test_a_header_sent_byte_by_byte_is_cut_off_with_408(tmp_path: Path, started: list[Collector]) -> None:
    c = _start(tmp_path, "--header-timeout", "1")
    started.append(c)

    def slowloris() -> tuple[bytes, float]:
        with socket.create_connection(("127.0.0.1", c.port)) as s:
            s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            began = time.monotonic()
            try:
                while time.monotonic() - began < 10:  # each byte arrives long before any idle timeout
                    s.sendall(b"a")
                    time.sleep(0.1)
            except OSError:
                pass
            got, _ = recv_until_closed(s, timeout=5)
            return got, time.monotonic() - began

    (got, after), latencies = health_during(c, slowloris)
    assert got.startswith(b"HTTP/1.1 408 "), got[:80]
    assert b"--header-timeout" in got
    assert after < 4, f"closed only after {after:.1f} s"
    assert_health_fast(latencies)


def test_a_body_that_never_finishes_is_cut_off_and_nothing_is_stored(tmp_path: Path,
                                                                   started: list[Collector]) -> None:
    c = _start(tmp_path, "--body-timeout", "1")
    started.append(c)
    with socket.create_connection(("127.0.0.1", c.port)) as s:
        body = orjson.dumps([{"event_id": "never-whole"}])
        s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + b"t" * 32 +
                  b"\r\nContent-Length: " + str(len(body) + 100).encode() + b"\r\n\r\n" + body)
        got, after = recv_until_closed(s, timeout=10)
    assert got.startswith(b"HTTP/1.1 408 "), got[:80]
    assert after < 4
    assert c.stop() == 0
    assert landed_lines(c.home) == []  # not acknowledged, not stored


def test_a_100_mib_header_is_refused_with_431_and_memory_stays_bounded(tmp_path: Path,
                                                                      started: list[Collector]) -> None:
    c = _start(tmp_path)
    started.append(c)
    assert c.proc is not None
    before = rss_mib(c.proc.pid)
    sent, answer = 0, b""
    with socket.create_connection(("127.0.0.1", c.port)) as s:
        s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Big: ")
        chunk = b"a" * MIB
        try:
            while sent < 100:
                s.sendall(chunk)
                sent += 1
        except OSError:  # the collector closed the connection: what it answered may still be readable
            pass
        try:
            s.settimeout(5)
            answer = s.recv(65536)
        except OSError:
            pass
    grew = rss_mib(c.proc.pid) - before
    assert sent < 100, "the collector read a 100 MiB header to the end"
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    assert grew < 16, f"collector memory grew by {grew:.0f} MiB"
    assert c.request("GET", "/healthz", auth=False)[0] == 200


def test_header_size_limit_is_431_with_the_option_to_change_it(tmp_path: Path, started: list[Collector]) -> None:
    c = _start(tmp_path, "--max-header-bytes", "4096")
    started.append(c)
    status, reply = c.request("POST", "/v1/events", b"[]", headers={"X-Pad": "p" * 8000})
    assert status == 431 and "--max-header-bytes" in str(reply["error"])
    assert c.request("POST", "/v1/events", b"[]", headers={"X-Pad": "p" * 2000}) == (200, {"accepted": 0})


def test_over_the_connection_limit_requests_get_a_clear_503(tmp_path: Path, started: list[Collector]) -> None:
    c = _start(tmp_path, "--max-connections", "40")
    started.append(c)
    hogs = [socket.create_connection(("127.0.0.1", c.port)) for _ in range(60)]
    try:
        time.sleep(0.3)
        status, reply = c.request("POST", "/v1/events", orjson.dumps([{"event_id": "over"}]), timeout=5)
        assert status == 503 and "--max-connections" in str(reply["error"]), reply
        assert c.request("GET", "/healthz", auth=False)[0] == 200  # liveness probes still get through
    finally:
        for s in hogs:
            s.close()
    time.sleep(0.3)
    assert c.request("POST", "/v1/events", orjson.dumps([{"event_id": "after"}])) == (200, {"accepted": 1})
    assert c.stop() == 0
    assert [orjson.loads(x)["event_id"] for x in landed_lines(c.home)] == ["after"]


def _limit_files(soft: int, hard: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_connections_beyond_the_file_descriptor_limit_get_503_not_a_hang(tmp_path: Path,
                                                                        started: list[Collector]) -> None:
    # soft = hard = 256: the collector cannot raise it and must keep below it by itself.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 600:  # this test process holds 400 client sockets itself
        if hard != resource.RLIM_INFINITY and hard < 600:
            pytest.skip(f"needs 600 open files for the client side, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (600, hard))
    c = _start(tmp_path, preexec=_limit_files(256, 256))
    started.append(c)
    hogs = []
    try:
        for _ in range(400):
            hogs.append(socket.create_connection(("127.0.0.1", c.port), timeout=5))
        time.sleep(0.3)
        began = time.monotonic()
        status, reply = c.request("POST", "/v1/events", orjson.dumps([{"event_id": "over"}]), timeout=5)
        assert status == 503 and "connections" in str(reply["error"]), reply
        assert time.monotonic() - began < 2
    finally:
        for s in hogs:
            s.close()
    time.sleep(0.5)
    assert c.request("POST", "/v1/events", orjson.dumps([{"event_id": "after"}])) == (200, {"accepted": 1})
    assert c.proc is not None and c.proc.poll() is None


def test_the_soft_file_descriptor_limit_is_raised_to_the_hard_limit(tmp_path: Path,
                                                                   started: list[Collector]) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    target = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    c = _start(tmp_path, preexec=_limit_files(256, target))
    started.append(c)
    assert c.proc is not None
    limits = Path(f"/proc/{c.proc.pid}/limits").read_text()
    line = next(x for x in limits.splitlines() if x.startswith("Max open files"))
    assert line.split()[3] == str(target), line


def test_100000_empty_gzip_members_are_refused_without_blocking_health(tmp_path: Path,
                                                                       started: list[Collector]) -> None:
    c = _start(tmp_path)
    started.append(c)
    members = gzip.compress(b"") * 100_000
    reply, latencies = health_during(c, lambda: c.request("POST", "/v1/events", members,
                                                          headers={"Content-Encoding": "gzip"}, timeout=60),
                                    repeat_for=2.0)
    status, body = reply  # type: ignore[misc]
    assert status == 413 and "gzip members" in str(body["error"]), body
    assert_health_fast(latencies)


def test_a_1m_element_array_is_refused_without_blocking_health(tmp_path: Path, started: list[Collector]) -> None:
    c = _start(tmp_path)
    started.append(c)
    array = b"[" + b",".join([b"{}"] * 1_000_000) + b"]"
    reply, latencies = health_during(c, lambda: c.request("POST", "/v1/events", array, timeout=60))
    status, body = reply  # type: ignore[misc]
    assert status == 413 and "--max-records" in str(body["error"]), body
    assert_health_fast(latencies)


def test_a_large_legitimate_batch_is_stored_while_health_stays_fast(tmp_path: Path,
                                                                    started: list[Collector]) -> None:
    c = _start(tmp_path)
    started.append(c)
    batch = [{"event_id": f"big-{i}", "session_id": f"s{i % 7}", "prompt_tokens": i, "model_id": "gpt-4o"}
             for i in range(90_000)]
    reply, latencies = health_during(c, lambda: c.request("POST", "/v1/events", orjson.dumps(batch), timeout=60))
    assert reply == (200, {"accepted": 90_000})
    assert_health_fast(latencies)
    assert c.stop() == 0
    assert [orjson.loads(x) for x in landed_lines(c.home)] == batch  # acknowledged = on disk, in order


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_parse_worker_processes_end_with_a_killed_collector(tmp_path: Path, started: list[Collector]) -> None:
    c = _start(tmp_path, "--parse-workers", "2")
    started.append(c)
    assert c.proc is not None
    children = _children(c.proc.pid)
    assert len(children) >= 2  # the workers (and multiprocessing's resource tracker)
    c.kill()  # SIGKILL: the collector cannot tell its workers anything
    until = time.monotonic() + 10
    while (alive := [p for p in children if Path(f"/proc/{p}").exists()]) and time.monotonic() < until:
        time.sleep(0.2)
    assert alive == [], f"orphaned worker processes {alive}"
