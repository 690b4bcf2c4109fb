"""The kernel's NVIDIA XID lines of the current boot, for the GPU driver's health.

``[gpu_devices] xid_source`` names where they are read: the journal (``journalctl -k
-b -o short-unix`` since ``xid_window`` seconds ago), ``/dev/kmsg`` (records
``<prio>,<seq>,<usec>,<flags>;<text>`` whose microseconds since boot become unix
time here), a file another tool keeps
(short-unix or short-iso lines), or nowhere. Whatever the source, the lines kept are
written in ``journalctl -o short-unix`` form, ``<unix time> <host> kernel: NVRM: Xid
...``, which cyborg.drivers.nvidia_health parses. No shell is involved.
"""

import errno
import os
import shutil
import subprocess
import time

from oslo_log import log

LOG = log.getLogger(__name__)

MARKER = "NVRM: Xid"
KMSG = "/dev/kmsg"
JOURNAL_ARGV = ("journalctl", "-k", "-b", "-o", "short-unix", "--no-pager")
SOURCES = ("journal", "kmsg", "none")
# /dev/kmsg keeps at most a few MiB; the journal is read from the window's start.
READ_LIMIT = 8 * 1024 * 1024
_warned: set[str] = set()


def _warn_once(key: str, message: str, *args: object) -> None:
    """A source that cannot be read is said once at WARNING, then at DEBUG: the agent
    asks again before every discovery."""
    if key in _warned:
        LOG.debug(message, *args)
    else:
        _warned.add(key)
        LOG.warning(message, *args)


def _journal(window: int) -> str | None:
    tool = shutil.which(JOURNAL_ARGV[0])
    if tool is None:
        _warn_once("journal", "[gpu_devices] xid_source is journal; journalctl is not installed")
        return None
    argv = [tool, *JOURNAL_ARGV[1:], f"--since=-{window}s"]
    try:
        result = subprocess.run(argv, capture_output=True, timeout=60, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as err:
        _warn_once("journal", "journalctl failed: %s", err)
        return None
    if result.returncode != 0:
        stderr = result.stderr[-300:].decode(errors="replace")
        _warn_once("journal", "journalctl exited %s: %s", result.returncode, stderr)
        return None
    return result.stdout[-READ_LIMIT:].decode(errors="replace")


def kmsg_lines(records: list[bytes], boot_time: float) -> list[str]:
    """/dev/kmsg records as short-unix lines (``boot_time``: unix time at boot)."""
    lines = []
    for record in records:
        head, _, text = record.decode(errors="replace").partition(";")
        fields = head.split(",")
        if len(fields) < 3 or not fields[2].isdigit():
            continue
        when = boot_time + int(fields[2]) / 1e6
        lines.append(f"{when:.6f} localhost kernel: {text.splitlines()[0] if text else ''}")
    return lines


def _kmsg() -> str | None:
    try:
        fd = os.open(KMSG, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as err:
        _warn_once("kmsg", "Cannot read %s for XIDs: %s", KMSG, err)
        return None
    records: list[bytes] = []
    try:
        while sum(map(len, records)) < READ_LIMIT:
            try:
                records.append(os.read(fd, 8192))  # one record per read
            except BlockingIOError:
                break  # read everything there is
            except OSError as err:
                if err.errno == errno.EPIPE:  # overwritten while read: go on
                    continue
                raise
    except OSError as err:
        _warn_once("kmsg", "Reading %s failed: %s", KMSG, err)
        return None
    finally:
        os.close(fd)
    boot_time = time.time() - time.clock_gettime(time.CLOCK_MONOTONIC)
    return "\n".join(kmsg_lines(records, boot_time))


def _file(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - READ_LIMIT))
            return handle.read().decode(errors="replace")
    except OSError as err:
        _warn_once(path, "Cannot read XIDs from %s: %s", path, err)
        return None


def read_xid_lines(source: str, window: int) -> list[str] | None:
    """The XID lines of ``source`` (from the journal: of the last ``window`` seconds);
    None when it cannot be read (keep what was kept)."""
    if source == "none":
        return []
    if source == "journal":
        text = _journal(window)
    elif source == "kmsg":
        text = _kmsg()
    elif os.path.isabs(source):
        text = _file(source)
    else:
        _warn_once(
            "source", "[gpu_devices] xid_source %r is none of %s or an absolute path", source,
            SOURCES,
        )  # fmt: skip
        return None
    if text is None:
        return None
    return [line for line in text.splitlines() if MARKER in line]
