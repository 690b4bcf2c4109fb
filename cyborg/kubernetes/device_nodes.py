"""The /dev nodes a container needs to use a PCI function, read from sysfs.

=================  ===========================================================
bound to           nodes
=================  ===========================================================
``vfio-pci``       ``/dev/vfio/vfio`` and ``/dev/vfio/<IOMMU group>``
``nvme``           ``/dev/nvmeN`` and its namespaces ``/dev/nvmeNnM``
``nvidia``         ``/dev/nvidia<minor>`` (from /proc/driver/nvidia), ``nvidiactl``,
                   ``nvidia-uvm``, ``nvidia-uvm-tools``
a DRM driver       ``/dev/dri/cardN`` and ``/dev/dri/renderDN``
=================  ===========================================================

Paths are read under ``root`` (``[agent] sysfs_root``) and only nodes that exist under
``root`` are returned: a node the kubelet cannot find fails the container's start.
"""

import os
import re

_NVIDIA_SHARED = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools")


def _under(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def _function_dir(root: str, address: str) -> str:
    return _under(root, f"/sys/bus/pci/devices/{address}")


def _link_name(path: str) -> str | None:
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None


def _entries(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _nvme(function: str) -> list[str]:
    nodes = []
    for controller in _entries(os.path.join(function, "nvme")):
        nodes.append(f"/dev/{controller}")
        namespaces = _entries(os.path.join(function, "nvme", controller))
        nodes += [f"/dev/{n}" for n in namespaces if re.fullmatch(rf"{controller}n\d+", n)]
    return nodes


def _nvidia(root: str, address: str) -> list[str]:
    information = _under(root, f"/proc/driver/nvidia/gpus/{address}/information")
    try:
        with open(information) as handle:
            found = re.search(r"^Device Minor:\s*(\d+)", handle.read(), re.MULTILINE)
    except OSError:
        return []
    return [f"/dev/nvidia{found.group(1)}", *_NVIDIA_SHARED] if found else []


def candidates(root: str, address: str) -> list[str]:
    """Every node the function's driver implies, whether it exists or not."""
    function = _function_dir(root, address)
    driver = _link_name(os.path.join(function, "driver"))
    nodes: list[str] = []
    if driver == "vfio-pci":
        group = _link_name(os.path.join(function, "iommu_group"))
        nodes += ["/dev/vfio/vfio", f"/dev/vfio/{group}"] if group else []
    elif driver == "nvidia":
        nodes += _nvidia(root, address)
    nodes += _nvme(function)
    drm = _entries(os.path.join(function, "drm"))
    nodes += [f"/dev/dri/{n}" for n in drm if re.fullmatch(r"(card|renderD)\d+", n)]
    return nodes


def device_nodes(root: str, address: str) -> list[str]:
    """The function's nodes that exist under ``root``."""
    return [node for node in candidates(root, address) if os.path.exists(_under(root, node))]
