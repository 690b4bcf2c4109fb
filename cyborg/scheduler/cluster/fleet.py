"""The fleet: devices by model and host, and which sets of them sit close together.

Devices are the planner's :class:`~cyborg.scheduler.devices.Device` (the inventory
shape the conductor already builds). A device's ``pcieRoot`` is its host and NUMA
node: the planner's ``pcie`` link class, the closest after a declared peer link.
A gang is placed, best first: on NVLink peers under one root, under one root, on one
host, and only then across hosts (the fewest hosts, fullest first).
"""

import dataclasses
from collections.abc import Iterable, Sequence

from cyborg.scheduler.devices import Device, PeerLink

#: host -> pcieRoot -> free devices (of one model).
_Hosts = dict[str, dict[tuple[str, int | None], list[Device]]]

#: Locality classes of a placement, closest first.
LOCALITIES = ("single", "peer", "pcie-root", "host", "network")


@dataclasses.dataclass(frozen=True)
class Fleet:
    devices: tuple[Device, ...]

    def __post_init__(self) -> None:
        ids = [d.id for d in self.devices]
        if len(set(ids)) != len(ids):
            raise ValueError("two devices share an id")

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(sorted({d.model for d in self.devices}))

    def count(self, model: str) -> int:
        return sum(1 for d in self.devices if d.model == model)

    def by_id(self) -> dict[str, Device]:
        return {d.id: d for d in self.devices}

    def without(self, failed: Iterable[str]) -> "Fleet":
        """The fleet less failed devices (and their peer links)."""
        gone = set(failed)
        return Fleet(tuple(d for d in self.devices if d.id not in gone))


def pcie_root(device: Device) -> tuple[str, int | None]:
    return (device.host, device.numa_node)


def locality(devices: Sequence[Device]) -> str:
    """The loosest link among a gang's devices (``single`` for one device)."""
    if len({d.host for d in devices}) > 1:
        return "network"
    if len({pcie_root(d) for d in devices}) > 1:
        return "host"
    if len(devices) == 1:
        return "single"
    linked = {frozenset((d.id, k.peer)) for d in devices for k in d.links}
    ids = [d.id for d in devices]
    pairs = {frozenset((a, b)) for i, a in enumerate(ids) for b in ids[i + 1 :]}
    return "peer" if pairs <= linked else "pcie-root"


class FreePool:
    """Free devices of a fleet during one round, indexed for gang placement."""

    def __init__(self, fleet: Fleet, free: Iterable[str] | None = None) -> None:
        chosen = set(free) if free is not None else None
        #: model -> host -> root -> free devices, in fleet order.
        self._free: dict[str, _Hosts] = {}
        self._peers: dict[str, set[str]] = {}
        for d in fleet.devices:
            for k in d.links:
                self._peers.setdefault(d.id, set()).add(k.peer)
                self._peers.setdefault(k.peer, set()).add(d.id)
            if chosen is None or d.id in chosen:
                hosts = self._free.setdefault(d.model, {})
                hosts.setdefault(d.host, {}).setdefault(pcie_root(d), []).append(d)
        self._count = {
            m: sum(len(r) for h in hs.values() for r in h.values()) for m, hs in self._free.items()
        }
        self._by_id = {
            d.id: d
            for hs in self._free.values()
            for h in hs.values()
            for r in h.values()
            for d in r
        }
        self._free_ids = set(self._by_id)

    def available(self, model: str) -> int:
        return self._count.get(model, 0)

    def take(
        self, model: str, n: int, prefer: Sequence[str] = (), near: Sequence[Device] = ()
    ) -> tuple[Device, ...] | None:
        """``n`` free devices of ``model``, closest together; None when fewer are free.

        ``prefer``: devices a job already holds; when they are all still free the job
        keeps them (no move). ``near``: devices the gang grows from (elastic jobs):
        their hosts are tried first.
        """
        if self.available(model) < n:
            return None
        if prefer and len(prefer) == n:
            kept = self.take_exact(model, prefer)
            if kept is not None:
                return kept
        hosts = self._free[model]
        chosen = None
        for host in dict.fromkeys(d.host for d in near):
            if host in hosts:
                chosen = self._within_one_host({host: hosts[host]}, n)
                if chosen:
                    break
        chosen = chosen or self._within_one_host(hosts, n) or self._across_hosts(hosts, n)
        self._remove(model, chosen)
        return chosen

    def take_exact(self, model: str, ids: Sequence[str]) -> tuple[Device, ...] | None:
        """Exactly the devices ``ids`` if all are free, else None (nothing taken)."""
        if not ids or any(i not in self._free_ids or self._by_id[i].model != model for i in ids):
            return None
        found = tuple(self._by_id[i] for i in ids)
        self._remove(model, found)
        return found

    def _remove(self, model: str, devices: Sequence[Device]) -> None:
        hosts = self._free[model]
        for d in devices:
            hosts[d.host][pcie_root(d)].remove(d)
            self._free_ids.discard(d.id)
        self._count[model] -= len(devices)

    def _within_one_host(self, hosts: "_Hosts", n: int) -> tuple[Device, ...] | None:
        # Best fit: the root (then the host) with the fewest free devices that still
        # holds the gang, so that large free blocks stay whole for large gangs.
        roots = [r for h in hosts.values() for r in h.values() if len(r) >= n]
        if roots:
            root = min(roots, key=len)
            return self._closest(root, n)
        fits = [h for h in hosts.values() if sum(len(r) for r in h.values()) >= n]
        if not fits:
            return None
        host = min(fits, key=lambda h: sum(len(r) for r in h.values()))
        picked: list[Device] = []
        for root in sorted(host.values(), key=len, reverse=True):
            picked += root[: n - len(picked)]
            if len(picked) == n:
                break
        return tuple(picked)

    def _across_hosts(self, hosts: "_Hosts", n: int) -> tuple[Device, ...]:
        picked: list[Device] = []
        ordered = sorted(hosts.values(), key=lambda h: -sum(len(r) for r in h.values()))
        for host in ordered:
            for root in sorted(host.values(), key=len, reverse=True):
                picked += root[: n - len(picked)]
            if len(picked) == n:
                break
        return tuple(picked)

    def _closest(self, root: list[Device], n: int) -> tuple[Device, ...]:
        """``n`` devices of one root, grown from the device with most free peers there."""
        if n == 1 or n == len(root):
            return tuple(root[:n])
        ids = {d.id for d in root}
        degree = {d.id: len(self._peers.get(d.id, set()) & ids) for d in root}
        start = max(root, key=lambda d: degree[d.id])
        picked = [start]
        rest = [d for d in root if d is not start]
        while len(picked) < n:
            linked = {p for d in picked for p in self._peers.get(d.id, set())}
            rest.sort(key=lambda d: (d.id not in linked, -degree[d.id]))
            picked.append(rest.pop(0))
        return tuple(picked)


def make_fleet(
    hosts: dict[str, int], per_host: int = 4, roots: int = 2, nvlink: bool = True
) -> Fleet:
    """A fleet of ``hosts[model]`` hosts per model with ``per_host`` devices each,
    spread over ``roots`` PCIe roots; devices under one root are NVLink peers when
    ``nvlink``. For tests and the simulator: the planner-only fields (memory, peaks)
    stay zero, the cluster scheduler never reads them."""
    devices = []
    for model in sorted(hosts):
        for h in range(hosts[model]):
            host = f"{model.lower()}-h{h}"
            ids = [f"{host}-d{i}" for i in range(per_host)]
            for i, dev_id in enumerate(ids):
                root = i * roots // per_host
                peers = [
                    PeerLink(o, "nvlink", 25.0)
                    for k, o in enumerate(ids)
                    if nvlink and k > i and k * roots // per_host == root
                ]
                devices.append(
                    Device(
                        id=dev_id,
                        model=model,
                        host=host,
                        memory_mb=0.0,
                        peak_tflops={"fp32": 0.0},
                        memory_bandwidth_gbps=0.0,
                        numa_node=root,
                        links=tuple(peers),
                    )
                )
    return Fleet(tuple(devices))
