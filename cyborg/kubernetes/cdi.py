"""A Container Device Interface spec for one resource's devices, so CDI names resolve.

Allocate may name devices ``<resource name>=<device id>`` (``[kubernetes]
device_plugin_cdi``); the container runtime looks those names up in the spec files of
its CDI directories (``/etc/cdi`` and ``/var/run/cdi`` by default). The device plugin
writes one file per resource name, ``cyborg-<kind>.json``, whenever its devices change.
"""

import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from cyborg.kubernetes.devices import PluginDevice

CDI_VERSION = "0.5.0"  # what the spec uses is in every release since 0.3.0


def spec_file_name(resource_name: str) -> str:
    return f"cyborg-{resource_name.rsplit('/', 1)[-1]}.json"


def container_edits(
    device: PluginDevice, nodes: Sequence[str], env: Sequence[str] = ()
) -> dict[str, Any]:
    """``env``: more NAME=value for the container (a claim's opaque configuration)."""
    # CDI refuses a device without edits; the variable also tells the container which
    # function it got when there is no device node (a test FPGA, a fake host).
    variable = "CYBORG_PCI_" + re.sub(r"[^A-Za-z0-9]", "_", device.id).upper()
    edits: dict[str, Any] = {"env": [f"{variable}={device.id}", *env]}
    if nodes:
        edits["deviceNodes"] = [{"path": path} for path in nodes]
    return edits


def spec(
    resource_name: str, devices: Sequence[PluginDevice], nodes: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    return {
        "cdiVersion": CDI_VERSION,
        "kind": resource_name,
        "devices": [
            {"name": d.id, "containerEdits": container_edits(d, nodes.get(d.id, ()))}
            for d in devices
        ],
    }


def write(directory: str, document: Mapping[str, Any], file_name: str | None = None) -> str:
    """Write the spec atomically (a runtime may read it at any moment); its path.

    The file is named after the spec's kind unless ``file_name`` is given."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, file_name or spec_file_name(str(document["kind"])))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".cyborg-", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2, sort_keys=True)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path
