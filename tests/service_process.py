"""What the tests' real OpenStack services (Placement, Keystone) share: a server in
a process group of its own, its log, and the check that it answers."""

import os
import signal
import subprocess
import urllib.error
import urllib.request


def tail(path: str, lines: int = 40) -> str:
    try:
        with open(path, errors="replace") as log:
            return "".join(log.readlines()[-lines:])
    except OSError:
        return "(no log)"


def answers(url: str) -> bool:
    """The URL (a version document, which needs no token) answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def stop(process: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
    """SIGTERM the process group (a server and its workers), SIGKILL after ``timeout``."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
