"""GetPreferredAllocation's choice: devices on one NUMA node, NVLink peers together.

The kubelet passes the devices it may give a container (``available``), those it must
(``must_include``, e.g. inherited from an init container) and how many it wants. For
every NUMA node, one candidate set is built: the must-include devices, then that node's
devices, then the rest, each step taking the device with the most NVLink links into
the set so far. The candidate with the most devices on one node wins, then the one with
the most NVLink pairs, then the lowest node. Pure: no I/O, no state.
"""

from collections.abc import Mapping, Sequence

from cyborg.kubernetes.devices import PluginDevice


def _links(device_id: str, chosen: Sequence[str], devices: Mapping[str, PluginDevice]) -> int:
    device = devices.get(device_id)
    mine = device.nvlink_peers if device is not None else frozenset()
    return sum(
        1
        for other in chosen
        if other in mine or device_id in getattr(devices.get(other), "nvlink_peers", ())
    )


def _numa(device_id: str, devices: Mapping[str, PluginDevice]) -> int | None:
    device = devices.get(device_id)
    return device.numa_node if device is not None else None


def _fill(
    chosen: list[str], pool: list[str], size: int, devices: Mapping[str, PluginDevice]
) -> None:
    """Take from ``pool`` into ``chosen`` until ``size``: most links first, then pool order."""
    while len(chosen) < size and pool:
        best = max(pool, key=lambda d: (_links(d, chosen, devices), -pool.index(d)))
        pool.remove(best)
        chosen.append(best)


def _candidate(
    node: int | None,
    available: Sequence[str],
    must: list[str],
    size: int,
    devices: Mapping[str, PluginDevice],
) -> list[str]:
    chosen = list(must)
    rest = [d for d in available if d not in chosen]
    _fill(chosen, [d for d in rest if _numa(d, devices) == node], size, devices)
    _fill(chosen, [d for d in rest if d not in chosen], size, devices)
    return chosen


def _score(chosen: Sequence[str], devices: Mapping[str, PluginDevice]) -> tuple[int, int]:
    per_node: dict[int | None, int] = {}
    for device_id in chosen:
        node = _numa(device_id, devices)
        per_node[node] = per_node.get(node, 0) + 1
    on_one_node = max((n for node, n in per_node.items() if node is not None), default=0)
    pairs = sum(_links(d, chosen[:i], devices) for i, d in enumerate(chosen))
    return on_one_node, pairs


def preferred(
    available: Sequence[str],
    must_include: Sequence[str],
    size: int,
    devices: Mapping[str, PluginDevice],
) -> list[str]:
    """The IDs to prefer, ``size`` of them (fewer only when fewer are available)."""
    available = sorted(dict.fromkeys(available))
    must = list(dict.fromkeys(must_include))
    if size <= len(must):
        return must[: max(size, 0)]
    nodes = sorted({n for d in available if (n := _numa(d, devices)) is not None})
    seeds: list[int | None] = [*nodes] if nodes else [None]
    candidates = [_candidate(node, available, must, size, devices) for node in seeds]
    # max() keeps the first of equal scores, and nodes are in ascending order.
    return max(candidates, key=lambda c: _score(c, devices))
