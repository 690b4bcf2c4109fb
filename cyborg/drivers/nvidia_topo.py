"""NVLink peers from ``nvidia-smi topo -m`` (pure functions over recorded text).

``nvidia-smi -q -x`` carries no peer links; ``nvidia-smi topo -m`` prints them as a
matrix, tab-separated, one header line and one row per GPU, then one per NIC::

    <TAB>GPU0<TAB>GPU1<TAB>NIC0<TAB>CPU Affinity<TAB>NUMA Affinity<TAB>GPU NUMA ID
    GPU0<TAB> X <TAB>NV12<TAB>PXB<TAB>48-63<TAB>3<TAB>N/A
    ...
    Legend:
      X    = Self
      NV#  = Connection traversing a bonded set of # NVLinks
      SYS, NODE, PHB, PXB, PIX = PCIe paths (across sockets ... one switch)

Only ``NV<n>`` cells are links; the PCIe levels are read from sysfs instead
(cyborg.drivers.pci.pcie_root). Recent drivers underline the header with ANSI
escapes, and copies in tickets turn tabs into runs of spaces; both are accepted.

The matrix names GPUs by nvidia-smi's index, which is not the PCI address and not
``minor_number`` (/dev/nvidia<N>). ``nvidia-smi -L`` names each index's uuid and the
XML each uuid's address; without the listing, the XML's ``<gpu>`` elements come in
index order (nvidia-smi enumerates by PCI bus id).
"""

import json
import re
from collections.abc import Mapping, Sequence

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CELLS = re.compile(r"\t|\s{2,}")
_GPU = re.compile(r"^GPU(\d+)$")
_NVLINK = re.compile(r"^NV(\d+)$")
_LISTED_GPU = re.compile(r"^GPU\s+(\d+):.*\(UUID:\s*(GPU-[^)\s]+)\)")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in _CELLS.split(_ANSI.sub("", line)) if cell.strip()]


def parse_topo_matrix(text: str) -> dict[int, dict[int, int]]:
    """{GPU index: {peer GPU index: NVLink count}} of ``nvidia-smi topo -m``; GPUs
    without NVLink map to {}. {} for text without a GPU matrix."""
    header: list[int] | None = None
    links: dict[int, dict[int, int]] = {}
    for line in text.splitlines():
        cells = _cells(line)
        if not cells:
            continue
        if cells[0].startswith("Legend"):
            break
        if header is None:
            if _GPU.match(cells[0]):  # header: GPU columns come first, then NICs
                header = [int(m.group(1)) for c in cells if (m := _GPU.match(c))]
            continue
        row = _GPU.match(cells[0])
        if row is None:
            continue  # a NIC's row
        index = int(row.group(1))
        peers = links.setdefault(index, {})
        for column, cell in zip(header, cells[1:], strict=False):
            nvlink = _NVLINK.match(cell)
            if nvlink and column != index and int(nvlink.group(1)) > 0:
                peers[column] = int(nvlink.group(1))
    return links


def gpu_order(listing: str, uuids_by_address: Mapping[str, str | None]) -> list[str]:
    """PCI addresses by nvidia-smi index: from ``nvidia-smi -L`` where it names every
    GPU of the XML, else the XML's order (``uuids_by_address`` keeps it)."""
    address_of = {uuid: address for address, uuid in uuids_by_address.items() if uuid}
    listed: dict[int, str] = {}
    for line in listing.splitlines():
        match = _LISTED_GPU.match(line)
        if match and match.group(2) in address_of:
            listed[int(match.group(1))] = address_of[match.group(2)]
    if listed and sorted(listed) == list(range(len(uuids_by_address))):
        return [listed[i] for i in range(len(listed))]
    return list(uuids_by_address)


def peer_links(matrix: Mapping[int, Mapping[int, int]], order: Sequence[str]) -> dict[str, str]:
    """{PCI address: ATTR_PEER_LINKS JSON} for the GPUs with NVLink peers; a peer the
    order cannot name (a GPU nvidia-smi showed but the XML did not) is left out."""
    found = {}
    for index, peers in matrix.items():
        if index >= len(order):
            continue
        links = [
            {"links": count, "peer": order[peer], "type": "nvlink"}
            for peer, count in sorted(peers.items())
            if peer < len(order)
        ]
        if links:
            found[order[index]] = json.dumps(links, sort_keys=True)
    return found
