"""The fake driver's inventory file: a short JSON description of simulated devices.

A list of devices; only ``type`` and ``address`` are required::

    [
      {"type": "GPU", "address": "0000:3b:00.0", "model": "A100-SXM4-40GB",
       "vendor": "10de",
       "deployables": [{"resource_class": "PGPU", "traits": ["CUSTOM_A100"],
                        "attributes": {"memory_mb": "40960"}}]},
      {"type": "FPGA", "address": "0000:5e:00.0"}
    ]

Defaults: vendor ``0xABCD`` and model ``Fake<type>``; one deployable named
``<host>_<address>`` with one accelerator, the device type's resource class (GPU:
PGPU, FPGA: FPGA, others: CUSTOM_<type>) and one ``TEST_PCI`` handle per
accelerator at the device address (then the following functions). ``{host}`` in a
name is replaced by the host name, made safe as in upstream's fake driver.
"""

import json
from typing import Any

import jsonschema

from cyborg.common.constants import AttachType, DeviceType
from cyborg.drivers.base import (
    AttachHandleReport,
    DeployableReport,
    DeviceReport,
    canonical_json,
    pci_address_info,
)

_PCI_ADDRESS = r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$"
_HANDLE = {
    "type": "object",
    "properties": {
        "type": {"enum": [t.value for t in AttachType]},
        "address": {"type": "string", "pattern": _PCI_ADDRESS},
    },
    "required": ["address"],
    "additionalProperties": False,
}
_DEPLOYABLE = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "num_accelerators": {"type": "integer", "minimum": 1, "maximum": 1024},
        "resource_class": {"type": "string", "pattern": "^[A-Z0-9_]+$"},
        "traits": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z0-9_]+$"}},
        "attributes": {"type": "object", "additionalProperties": {"type": "string"}},
        "attach_handles": {"type": "array", "items": _HANDLE},
    },
    "additionalProperties": False,
}
SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "type": {"enum": [t.value for t in DeviceType]},
            "address": {"type": "string", "pattern": _PCI_ADDRESS},
            "vendor": {"type": "string", "minLength": 1, "maxLength": 255},
            "model": {"type": "string", "minLength": 1, "maxLength": 255},
            "deployables": {"type": "array", "items": _DEPLOYABLE},
        },
        "required": ["type", "address"],
        "additionalProperties": False,
    },
}
_RESOURCE_CLASS = {DeviceType.GPU.value: "PGPU", DeviceType.FPGA.value: "FPGA"}


class InvalidInventoryFile(ValueError):
    pass


def load(path: str, safe_host: str) -> list[DeviceReport]:
    """Read the file; raises InvalidInventoryFile (the agent then skips its report)."""
    try:
        with open(path) as handle:
            devices = json.load(handle)
    except (OSError, ValueError) as err:
        raise InvalidInventoryFile(f"fake driver inventory {path}: {err}") from err
    return parse(devices, safe_host, path)


def parse(devices: Any, safe_host: str, source: str = "inventory") -> list[DeviceReport]:
    """Reports from the file's decoded JSON; raises InvalidInventoryFile."""
    try:
        jsonschema.validate(devices, SCHEMA)
    except jsonschema.ValidationError as err:
        raise InvalidInventoryFile(f"fake driver inventory {source}: {err.message}") from err
    return [_device(device, safe_host) for device in devices]


def _next_functions(address: str, count: int) -> list[str]:
    """``count`` PCI addresses from ``address`` on: functions 0-7, then the next slot."""
    info = pci_address_info(address)
    first = int(info["device"], 16) * 8 + int(info["function"])
    return [
        f"{info['domain']}:{info['bus']}:{n // 8:02x}.{n % 8}" for n in range(first, first + count)
    ]


def _deployable(spec: dict[str, Any], device: dict[str, Any], safe_host: str) -> DeployableReport:
    count = spec.get("num_accelerators", len(spec.get("attach_handles", ())) or 1)
    handles = spec.get("attach_handles") or [
        {"address": address} for address in _next_functions(device["address"], count)
    ]
    name = spec.get("name", f"{{host}}_{device['address']}").replace("{host}", safe_host)
    return DeployableReport(
        name=name,
        num_accelerators=count,
        resource_class=spec.get(
            "resource_class", _RESOURCE_CLASS.get(device["type"], f"CUSTOM_{device['type']}")
        ),
        driver_name="fake",
        traits=tuple(spec.get("traits", ())),
        attributes=tuple(sorted(spec.get("attributes", {}).items())),
        attach_handles=tuple(
            AttachHandleReport(
                handle.get("type", AttachType.TEST_PCI.value),
                canonical_json(pci_address_info(handle["address"])),
            )
            for handle in handles
        ),
    )


def _device(device: dict[str, Any], safe_host: str) -> DeviceReport:
    return DeviceReport(
        type=device["type"],
        vendor=device.get("vendor", "0xABCD"),
        model=device.get("model", f"Fake{device['type']}"),
        controlpath=canonical_json(pci_address_info(device["address"])),
        deployables=tuple(
            _deployable(spec, device, safe_host) for spec in device.get("deployables", [{}])
        ),
    )
