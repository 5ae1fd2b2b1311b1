"""A dbt process started before it is needed: dbt's imports paid while the lake loads, not after.

`dbt build` in a fresh process spends ~2 s importing dbt-core and the DuckDB adapter before it reads a
file (`dbt --version` alone takes 1.7 s here). An `aiw run` that loads new files will build the marts a
few seconds later, after the loader and the contract check; only then does dagster-dbt start dbt. So
`aiw run` starts this module at its beginning, as a process of its own on the other core:

    python -m orchestration.defs.warehouse.warm_dbt SOCKET

It listens on the Unix socket SOCKET, imports dbt, and then runs exactly one dbt command, the one a
client sends: the client is the `dbt_executable` dagster-dbt is given (`client_script()` writes it),
which sends its argument vector, environment, working directory and its stdin/stdout/stderr file
descriptors, waits, and exits with dbt's exit status. The command is run by dbt's own entry point
(`dbt.cli.main.cli`, what the `dbt` script calls) in a process that has done nothing but import dbt, so
it behaves as `dbt` started at that moment would; its output goes straight to dagster-dbt's pipe.
When the server is not there (it already ran its command, or died), the client runs the real dbt.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REAL_DBT = str(Path(sys.executable).parent / "dbt")

# The client runs once per dbt command with `python -IS` (no site, no project imports: ~20 ms). It
# forwards SIGINT/SIGTERM to the server (dagster-dbt interrupts dbt with SIGINT).
_CLIENT = '''\
import json, os, signal, socket, sys, time
SOCKET, SERVER_PID, REAL_DBT = {socket!r}, {pid!r}, {real_dbt!r}
SERVED = os.path.join(os.path.dirname(SOCKET), "served")

def server_can_still_serve():
    if os.path.exists(SERVED):
        return False  # it took its one command
    try:
        with open(f"/proc/{{SERVER_PID}}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # exited, not yet reaped
    except OSError:
        try:
            os.kill(SERVER_PID, 0)
            return True
        except OSError:
            return False

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
deadline = time.monotonic() + 60
while True:
    try:
        s.connect(SOCKET)
        break
    except OSError:
        # Not listening yet (it has just been started), or gone: then the real dbt runs the command.
        if not server_can_still_serve() or time.monotonic() > deadline:
            os.execv(REAL_DBT, [REAL_DBT, *sys.argv[1:]])
        time.sleep(0.02)
request = json.dumps({{"argv": sys.argv[1:], "env": dict(os.environ), "cwd": os.getcwd()}}).encode()
socket.send_fds(s, [len(request).to_bytes(8, "big") + request], [0, 1, 2])
for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, lambda n, _f: os.kill(SERVER_PID, n))
reply = b""
while chunk := s.recv(64):
    reply += chunk
if not reply:
    sys.stderr.write("the warm dbt process exited without an exit status (see its dbt.log)\\n")
sys.exit(int(reply or 2))
'''


def _serve(path: str) -> int:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)  # a client that connects now waits until the imports below are done
    from dbt.adapters.duckdb import Plugin  # noqa: F401  (the adapter dbt loads for this project's profile)
    from dbt.cli.main import cli

    conn, _ = listener.accept()
    listener.close()
    os.unlink(path)  # one command: a later client runs the real dbt
    Path(path).with_name("served").touch()
    with conn:
        header, fds, _, _ = socket.recv_fds(conn, 8, 3)
        size = int.from_bytes(header, "big")
        body = b""
        while len(body) < size:
            body += conn.recv(size - len(body))
        request = json.loads(body)
        sys.stdout.flush()
        sys.stderr.flush()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = [REAL_DBT, *request["argv"]]
        try:
            cli.main(args=request["argv"], prog_name="dbt")  # exits, as the dbt script does
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        conn.sendall(str(code).encode())
    return 0


@dataclass
class WarmDbt:
    executable: str  # the client script: what dagster-dbt runs as `dbt`
    pid: int  # the server's
    scratch: Path

    @property
    def served(self) -> bool:
        """Whether the server took a command (it runs at most one)."""
        return (self.scratch / "served").exists()


@contextlib.contextmanager
def warm_dbt() -> Iterator[WarmDbt]:
    """Start the warm dbt process; yield its client, the dbt executable to give dagster-dbt.

    On leaving, a server that took no command (the marts were not built) is stopped, and one that
    took a command is waited for (it exits when the command has).
    """
    scratch = Path(tempfile.mkdtemp(prefix="aiw-dbt-"))  # short: a Unix socket path is ~100 characters at most
    path = str(scratch / "dbt.sock")
    server = subprocess.Popen([sys.executable, "-m", "orchestration.defs.warehouse.warm_dbt", path],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = scratch / "dbt"
    client.write_text(f"#!{sys.executable} -IS\n" + _CLIENT.format(socket=path, pid=server.pid, real_dbt=REAL_DBT))
    client.chmod(0o700)
    warm = WarmDbt(executable=str(client), pid=server.pid, scratch=scratch)
    try:
        yield warm
    finally:
        if server.poll() is None and not warm.served:
            server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1]))
