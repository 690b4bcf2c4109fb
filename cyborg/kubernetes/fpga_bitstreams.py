"""FPGAs programmed for pods: the bitstream a ResourceClaim's opaque config names.

A claim (or its DeviceClass) may give the FPGA driver an opaque configuration::

    opaque:
      driver: fpga.cyborg.openstack.org
      parameters:
        apiVersion: fpga.cyborg.openstack.org/v1alpha1
        kind: FPGAConfig
        bitstream:
          image: 8a4d9c8e-...      # a Glance image, downloaded as VM binds do
          # or: file: crypto.gbs   # a file in one of [kubernetes] fpga_bitstream_dirs
        # or, short for the image: bitstream: 8a4d9c8e-...

The allocation carries the class's and the claim's configurations, in that order, each
for some of the claim's requests (all of them when it names none); for every device
allocated to a request the last one that applies wins, as the DRA API specifies. The
DRA plugin programs each device before it answers NodePrepareResources, through the
agent's Programmer (the same privsep path and per-device lock as VM binds), so the pod
starts only on a programmed FPGA; a refused or failed programming fails the prepare.
"""

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from oslo_utils import uuidutils

from cyborg.common import context as cyborg_context
from cyborg.common import exception, inventory
from cyborg.kubernetes import opaque_config

API_VERSION = "fpga.cyborg.openstack.org/v1alpha1"
KIND = opaque_config.FPGA_KIND


class InvalidConfig(Exception):
    """An opaque configuration the FPGA driver cannot follow (the prepare fails)."""


@dataclasses.dataclass(frozen=True)
class Bitstream:
    image: str | None = None  # a Glance image uuid
    file: str | None = None  # a file name under an allowed directory

    def describe(self) -> str:
        return f"image {self.image}" if self.image else f"file {self.file}"


def parse(parameters: Any) -> Bitstream:
    """The bitstream of one FPGAConfig; InvalidConfig for anything else, so that a typo
    in a pod's claim is an error the kubelet shows, not an unprogrammed FPGA."""
    if not isinstance(parameters, Mapping):
        raise InvalidConfig("the opaque parameters are not an object")
    if (parameters.get("apiVersion"), parameters.get("kind")) != (API_VERSION, KIND):
        raise InvalidConfig(f"the opaque parameters must be apiVersion {API_VERSION}, kind {KIND}")
    unknown = sorted(set(parameters) - {"apiVersion", "kind", "bitstream"})
    if unknown:
        raise InvalidConfig(f"unknown FPGAConfig fields: {', '.join(unknown)}")
    bitstream = parameters.get("bitstream")
    if isinstance(bitstream, str):  # the short form: a Glance image uuid
        bitstream = {"image": bitstream}
    if not isinstance(bitstream, Mapping) or len(bitstream) != 1:
        raise InvalidConfig("bitstream must name exactly one of image and file")
    ((source, value),) = bitstream.items()
    if source == "image" and isinstance(value, str) and uuidutils.is_uuid_like(value):
        return Bitstream(image=value)
    if source == "file" and isinstance(value, str) and _plain_name(value):
        return Bitstream(file=value)
    raise InvalidConfig(f"bitstream.{source} must be an image uuid or a plain file name")


def _plain_name(name: str) -> bool:
    return bool(name) and "/" not in name and name not in (".", "..") and "\0" not in name


def bitstreams_by_request(
    claim: Mapping[str, Any], driver: str, requests: Iterable[str]
) -> dict[str, Bitstream]:
    """{request name: its bitstream} for the allocated ``requests`` that have one."""
    # Class configurations first, then the claim's: the later one wins.
    configs = opaque_config.ordered(claim, driver)
    found: dict[str, Bitstream] = {}
    for request in requests:
        for config in configs:
            if opaque_config.applies(config.get("requests", []), request):
                found[request] = parse(config["opaque"].get("parameters"))
    return found


class DeviceProgrammer(Protocol):
    """cyborg.agent.programming.Programmer, as far as pods need it."""

    def program(
        self,
        context: cyborg_context.RequestContext,
        controlpath_id: Mapping[str, Any] | str,
        bitstream_uuid: str,
        driver_name: str | None = None,
    ) -> bool: ...

    def program_file(self, controlpath_id: Mapping[str, Any] | str, path: str) -> bool: ...


class PodProgrammer:
    """Programs the FPGA behind a PCI function with a pod's bitstream."""

    def __init__(
        self,
        programmer: DeviceProgrammer,
        allowed_dirs: Sequence[str],
        discover: Callable[[], Iterable[inventory.DeviceReport]],
    ) -> None:
        self.programmer = programmer
        self.discover = discover  # what the programmable drivers find now
        self.allowed_dirs = [os.path.realpath(d) for d in allowed_dirs if d]

    def program(self, pci_address: str, bitstream: Bitstream) -> None:
        """Raises InvalidConfig or a cyborg exception (FPGAProgramError, ...)."""
        controlpath = self.controlpath_of(pci_address)
        if bitstream.image is not None:
            context = cyborg_context.get_admin_context()
            self.programmer.program(context, controlpath, bitstream.image)
            return
        self.programmer.program_file(controlpath, self.local_file(str(bitstream.file)))

    def local_file(self, name: str) -> str:
        """The file ``name`` in the first allowed directory that has it; a link that
        leads out of its directory is refused like a missing file."""
        if not self.allowed_dirs:
            raise InvalidConfig(
                "local bitstream files are not allowed on this node "
                "([kubernetes] fpga_bitstream_dirs is empty)"
            )
        for directory in self.allowed_dirs:
            path = os.path.realpath(os.path.join(directory, name))
            if os.path.dirname(path) == directory and os.path.isfile(path):
                return path
        raise InvalidConfig(f"no bitstream file {name} in [kubernetes] fpga_bitstream_dirs")

    def controlpath_of(self, pci_address: str) -> str:
        """The control path (the board's physical function) of the device that has
        ``pci_address`` among its attach handles, as the drivers discover it now."""
        wanted = inventory.canonical_json(inventory.pci_address_info(pci_address))
        for device in self.discover():
            handles = (h for d in device.deployables for h in d.attach_handles)
            if device.controlpath == wanted or any(h.attach_info == wanted for h in handles):
                return device.controlpath
        raise exception.FPGAProgramError(
            address=pci_address, host="this node", reason="no driver reports this device now"
        )
