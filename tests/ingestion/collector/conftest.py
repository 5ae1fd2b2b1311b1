"""A real collector process on 127.0.0.1 for the tests, and small HTTP helpers around it."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.paths import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Collector:
    """A collector subprocess: where it listens, its token and its AIW_HOME."""

    home: Path
    token: str | None
    port: int = field(default_factory=free_port)
    args: list[str] = field(default_factory=list)
    preexec: Callable[[], None] | None = None  # run in the child before exec (e.g. to set rlimits)
    proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> Collector:
        env = {**os.environ, "AIW_HOME": str(self.home)}
        env.pop("AIW_COLLECTOR_TOKEN", None)
        if self.token:
            env["AIW_COLLECTOR_TOKEN"] = self.token
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ingestion.collector", "--port", str(self.port), "--log-level", "warning",
             *self.args], env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            preexec_fn=self.preexec)
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector exited ({self.proc.returncode}): {self.proc.stdout.read().decode()}")
            try:
                if self.request("GET", "/healthz", auth=False)[0] == 200:
                    return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError("collector did not answer /healthz in time")

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                auth: bool = True, timeout: float = 10.0) -> tuple[int, dict[str, object]]:
        """One request on a fresh connection: (status, parsed JSON body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            hdrs = dict(headers or {})
            if auth and self.token:
                hdrs.setdefault("Authorization", f"Bearer {self.token}")
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else {})
        finally:
            conn.close()

    def stop(self, timeout: float = 15.0) -> int:
        """Graceful stop (SIGTERM): open files are finalized. Returns 0 for a clean stop."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        # uvicorn re-raises the signal after its graceful shutdown, so a clean stop ends "by SIGTERM".
        return 0 if code == -signal.SIGTERM else code

    def kill(self) -> None:
        """SIGKILL, like a crash: nothing in the process gets to run."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def landed_lines(home: Path, source: str = "native") -> list[bytes]:
    """Every line in the loader-visible (finalized) landing files of a source."""
    lines: list[bytes] = []
    for path in sorted((home / "landing" / source).rglob("*.ndjson")):
        if not path.name.startswith("."):
            lines.extend(path.read_bytes().splitlines())
    return lines


def temp_files(home: Path) -> list[Path]:
    return [p for p in (home / "landing").rglob(".*") if p.is_file()]


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    c = Collector(home=tmp_path / "aiw", token=secrets.token_urlsafe(24)).start()
    yield c
    c.kill()
