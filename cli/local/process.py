"""Pid files and liveness of the processes the project starts."""

import contextlib
import os
import signal
import socket
import time
from pathlib import Path


def pid_alive(pid: int, name_hint: str | None = None) -> bool:
    """Whether ``pid`` runs (and, given a hint, its command line mentions it).

    The hint guards against a stale pid file whose pid was reused by another program.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if name_hint is None:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
        return False
    return name_hint.encode() in cmdline


def read_pid(pid_file: Path, name_hint: str | None = None) -> int | None:
    """The live pid recorded in ``pid_file``; a stale file is removed."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if pid_alive(pid, name_hint):
        return pid
    pid_file.unlink(missing_ok=True)
    return None


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM ``pid``, then SIGKILL if it has not gone after ``timeout`` seconds."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        _reap(pid)
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    _reap(pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    """Wait until ``host:port`` accepts connections; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return True
        time.sleep(0.05)
    return False
