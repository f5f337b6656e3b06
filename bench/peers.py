"""The peers the benchmarks measure flocloud against, installed and run by the scripts.

Invariants owned here:
- The peers live in their own venv, ``bench/.peers/venv`` (gitignored), created on first
  use with ``python -m venv`` + pip, with pinned versions; nothing of theirs enters the
  project's venv.
- Debian's ``redis-server`` is installed with apt-get when missing (as ``scripts/test``
  installs chromium); a benchmark starts its own server on a free loopback port in a temp
  directory, never a system one.
- Every process started here is stopped by the context manager that started it (SIGTERM,
  then SIGKILL after a timeout), also when the benchmark fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from flocloud.devnet.network import free_port

__all__ = ["free_port", "peers_python", "redis_server", "rss_mib", "running"]

PEERS = Path(__file__).parent / ".peers"
VENV = PEERS / "venv"
PACKAGES = ["nostr-relay==1.14", "redis==8.1.0", "py-spy==0.4.3"]


def peers_python() -> str:
    """The peers venv's python, created (and the pinned packages installed) on first use."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".installed"
    if not stamp.exists() or stamp.read_text() != " ".join(PACKAGES):
        if not python.exists():
            print(f"creating {VENV}", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=300)
        print(f"installing {' '.join(PACKAGES)} into {VENV}", file=sys.stderr)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PACKAGES],
            check=True, timeout=900,
        )  # fmt: skip
        stamp.write_text(" ".join(PACKAGES))
    return str(python)


def redis_server() -> str:
    """The path of Debian's redis-server, installed with apt-get when it is missing."""
    found = shutil.which("redis-server")
    if found:
        return found
    print("installing Debian's redis-server", file=sys.stderr)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = [*sudo, "apt-get", "install", "-y", "-q", "redis-server"]
    if subprocess.run(cmd, env=env, capture_output=True, timeout=600).returncode != 0:
        subprocess.run(
            [*sudo, "apt-get", "update", "-q"], env=env, capture_output=True, timeout=600
        )
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=600)
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(found).exists():
        raise RuntimeError("apt-get installed redis-server but it is not on PATH")
    return found


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}; see {log}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{proc.args} did not listen on {port} in {timeout} s; see {log}")


@contextlib.contextmanager
def running(
    args: list[str], port: int, log: Path, *, cwd: Path, timeout: float = 60
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``args`` (its own process group), wait until it listens on ``port``, and stop
    the whole group on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_port(port, proc, timeout, log)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait(15)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")
