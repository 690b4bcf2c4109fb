"""Resident memory of the soak's processes (bench/soak.py), read from /proc.

A service is its top process plus its children (gunicorn's workers); each is listed
by pid, so a worker that was replaced shows as one that ended and one that began.
"""

import os

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
