"""Resident memory of the soak's processes (bench/soak.py), read from /proc.

A service is its top process plus its children (gunicorn's workers); each is listed
by pid, so a worker that was replaced shows as one that ended and one that began.
"""

import os
import threading
from collections.abc import Callable

Snapshot = dict[int, tuple[str, int]]  # pid -> (label, RSS in KiB)


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None  # gone


def _parents() -> dict[int, int]:
    """pid -> parent pid, of every process."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # The command name may hold spaces: the fields after its ')' are fixed.
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
    return parents


def snapshot(named: dict[str, int]) -> Snapshot:
    """Each named process and its children, with their RSS now."""
    parents = _parents()
    found: Snapshot = {}
    for name, pid in named.items():
        children = sorted(p for p, parent in parents.items() if parent == pid)
        for label, member in [(name, pid), *((f"{name} worker", c) for c in children)]:
            kib = rss_kib(member)
            if kib is not None:
                found[member] = (label, kib)
    return found


def table(start: Snapshot, end: Snapshot) -> list[str]:
    lines = [f"{'process':<24} {'pid':>8} {'RSS start MiB':>14} {'RSS end MiB':>12} {'change':>8}"]
    for pid in sorted(set(start) | set(end), key=lambda p: ((start.get(p) or end[p])[0], p)):
        label = (start.get(pid) or end[pid])[0]
        before, after = start.get(pid, ("", 0))[1], end.get(pid, ("", 0))[1]
        first = f"{before / 1024:.1f}" if pid in start else "-"
        last = f"{after / 1024:.1f}" if pid in end else "-"
        change = f"{(after - before) / 1024:+.1f}" if pid in start and pid in end else ""
        lines.append(f"{label:<24} {pid:>8} {first:>14} {last:>12} {change:>8}")
    return lines


class Sampler:
    """Snapshots every ``interval`` seconds in a thread, between ``start`` and ``stop``:
    whether a process's RSS levels off or keeps climbing."""

    def __init__(self, pids: Callable[[], dict[str, int]], interval: float) -> None:
        self.pids = pids
        self.interval = interval
        self.samples: list[Snapshot] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-rss", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(snapshot(self.pids()))


def trend(start: Snapshot, samples: list[Snapshot], interval: float) -> list[str]:
    """RSS in MiB of each process of ``start`` at every sample, one line per process."""
    if not samples:
        return []
    head = " ".join(f"{(n + 1) * interval:>6.0f}s" for n in range(len(samples)))
    lines = [f"{'RSS MiB over the load':<24} {'pid':>8} {'start':>7} {head}"]
    for pid, (label, kib) in sorted(start.items(), key=lambda item: (item[1][0], item[0])):
        values = [s[pid][1] / 1024 if pid in s else None for s in samples]
        shown = " ".join(f"{v:>7.1f}" if v is not None else f"{'-':>7}" for v in values)
        lines.append(f"{label:<24} {pid:>8} {kib / 1024:>7.1f} {shown}")
    return lines
