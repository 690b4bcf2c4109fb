"""The CDI spec of one prepared claim: its devices, named after the claim.

Each prepared claim gets its own spec file, ``cyborg-dra-<driver>-<claim uid>.json``
in ``[kubernetes] cdi_spec_dir``, of CDI kind ``<driver>/claim``; a device in it is
named ``<claim uid>-<device name>``, so the fully qualified CDI name the kubelet
passes to the runtime is ``gpu.cyborg.openstack.org/claim=<uid>-pci-0000-3b-00-0``.
One file per claim keeps unprepare a single unlink and keeps the names of two claims
apart; the edits are those of the device plugin's specs (cyborg.kubernetes.cdi).
"""

import contextlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

from cyborg.kubernetes import cdi
from cyborg.kubernetes.devices import PluginDevice

CDI_CLASS = "claim"


def kind(driver: str) -> str:
    return f"{driver}/{CDI_CLASS}"


def file_name(driver: str, claim_uid: str) -> str:
    return f"cyborg-dra-{driver}-{claim_uid}.json"


def cdi_device_name(claim_uid: str, device_name: str) -> str:
    return f"{claim_uid}-{device_name}"


def cdi_device_id(driver: str, claim_uid: str, device_name: str) -> str:
    """The fully qualified CDI name of one claim's device."""
    return f"{kind(driver)}={cdi_device_name(claim_uid, device_name)}"


def spec(
    driver: str,
    claim_uid: str,
    devices: Mapping[str, PluginDevice],
    nodes: Mapping[str, Sequence[str]],
    env: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The spec for ``devices`` ({DRA device name: device}); ``nodes`` and the extra
    ``env`` (NAME=value, from the claim's configuration) by PCI address."""
    return {
        "cdiVersion": cdi.CDI_VERSION,
        "kind": kind(driver),
        "devices": [
            {
                "name": cdi_device_name(claim_uid, name),
                "containerEdits": cdi.container_edits(
                    device, nodes.get(device.id, ()), (env or {}).get(device.id, ())
                ),
            }
            for name, device in devices.items()
        ],
    }


def write(directory: str, driver: str, claim_uid: str, document: Mapping[str, Any]) -> str:
    return cdi.write(directory, document, file_name(driver, claim_uid))


def remove(directory: str, driver: str, claim_uid: str) -> None:
    """Remove the claim's spec; one already gone is no error."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(directory, file_name(driver, claim_uid)))
