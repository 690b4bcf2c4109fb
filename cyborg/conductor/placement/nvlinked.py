"""Which of a host's providers are NVLinked to which (pure functions).

A multi-device bind that leaves the choice to Placement (cyborg.conductor.placement.
claiming) prefers the candidate whose devices are NVLinked. The drivers name peers by
PCI address (ATTR_PEER_LINKS); a provider is a deployable, found by its device's PCI
address where exactly one deployable of the host holds it (a GPU in MIG mode has
several: none of them is named).
"""

from collections.abc import Mapping, Sequence

from cyborg.common import inventory
from cyborg.objects.schedulable import Schedulable

#: provider uuid -> the provider uuids it has NVLink to (both ways)
Links = Mapping[str, frozenset[str]]


def providers_linked(rows: Sequence[Schedulable]) -> dict[str, frozenset[str]]:
    """The NVLinks among ``rows`` (one host's), by resource provider."""
    holders: dict[str, list[str]] = {}
    for row in rows:
        if row.pci_address and row.rp_uuid:
            holders.setdefault(row.pci_address, []).append(row.rp_uuid)
    by_address = {address: rps[0] for address, rps in holders.items() if len(rps) == 1}
    links: dict[str, set[str]] = {}
    for row in rows:
        if not row.rp_uuid:
            continue
        for peer in inventory.nvlink_peers(row.attributes.get(inventory.ATTR_PEER_LINKS)):
            other = by_address.get(peer)
            if other is not None and other != row.rp_uuid:
                links.setdefault(row.rp_uuid, set()).add(other)
                links.setdefault(other, set()).add(row.rp_uuid)
    return {rp: frozenset(peers) for rp, peers in links.items()}


def linked_pairs(providers: Sequence[str], links: Links) -> int:
    """How many pairs of distinct ``providers`` are NVLinked."""
    distinct = list(dict.fromkeys(providers))
    return sum(
        1
        for i, a in enumerate(distinct)
        for b in distinct[i + 1 :]
        if b in links.get(a, frozenset())
    )
