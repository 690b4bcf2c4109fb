"""SPDK storage targets: NVMe-oF subsystems and vhost controllers as SSD devices.

Both drivers ask a running SPDK application over its JSON-RPC 2.0 unix socket
(``<root>/var/tmp/spdk.sock`` unless told otherwise), with the methods and response
fields of SPDK's ``doc/jsonrpc.md``:

* ``nvmf_get_subsystems``: ``nqn``, ``subtype`` ("NVMe" or "Discovery"),
  ``listen_addresses`` [{``trtype``, ``adrfam``, ``traddr``, ``trsvcid``}],
  ``model_number``, ``namespaces`` [{``nsid``, ``bdev_name``, ``uuid``}];
* ``vhost_get_controllers``: ``ctrlr``, ``cpumask``, ``socket`` and
  ``backend_specific`` = {``block``: {``bdev``, ``readonly``, ``transport``}} or
  {``scsi``: [targets with ``luns`` [{``id``, ``bdev_name``}]]};
* ``bdev_get_bdevs``: ``name``, ``product_name``, ``block_size``, ``num_blocks``.

One device per exported subsystem or controller, one deployable with one
accelerator. The control path is not a PCI address: it is canonical JSON with a
``type`` key (``{"nqn": ..., "type": "NVMF"}``, ``{"ctrlr": ..., "type": "VHOST"}``),
stored with cpid_type NVMF or VHOST.

Each deployable has one attach handle, what a consumer needs to reach the target
(upstream Cyborg has only PCI and MDEV handles, so these types are ours):

* ``NVMF``: ``subnqn``, ``trtype``, ``adrfam``, ``traddr``, ``trsvcid`` of the
  subsystem's first listener, as ``nvme connect -n -t -a -s`` takes them; a
  subsystem without a listener cannot be reached and has no handle;
* ``VHOST_USER``: ``ctrlr``, ``socket`` (the controller's unix socket, as SPDK
  reports it) and ``transport`` (``vhost_user_blk`` or ``vhost_user_scsi``); a
  controller that reports no socket has no handle.

A handle's JSON longer than the column (255 characters) is left out, with a warning.

An SPDK that is absent, not running or answering nonsense is logged and reported as
no devices, never raised.
"""

import json
import os
import socket
from collections.abc import Iterable, Mapping
from typing import Any

from oslo_log import log

from cyborg.common.constants import AttachType
from cyborg.drivers.base import (
    AttachHandleReport,
    DeployableReport,
    DeviceReport,
    Driver,
    canonical_json,
)

LOG = log.getLogger(__name__)

DEFAULT_SOCKET = "var/tmp/spdk.sock"  # relative to the driver's root
DISCOVERY_NQN = "nqn.2014-08.org.nvmexpress.discovery"
VENDOR = "SPDK"
DRIVER_NAME = "spdk"
ATTR_CAPACITY_GB = "capacity_gb"  # GiB (2**30 bytes), rounded down
ATTR_TRANSPORT = "transport"
MAX_ATTACH_INFO = 255  # attach_handles.attach_info is a VARCHAR(255)


class SPDKError(Exception):
    """The SPDK application could not be asked, or answered with an error."""


def rpc_call(socket_path: str, method: str, timeout: float = 5.0) -> Any:
    """One JSON-RPC 2.0 request over SPDK's unix socket; the response's ``result``."""
    request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method}).encode()
    decoder = json.JSONDecoder()
    received = b""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(socket_path)
            sock.sendall(request)
            while True:  # SPDK sends one JSON object and keeps the connection open
                chunk = sock.recv(65536)
                if not chunk:
                    raise SPDKError(f"{method}: connection closed before a full response")
                received += chunk
                try:
                    response, _ = decoder.raw_decode(received.decode().lstrip())
                    break
                except ValueError:  # incomplete so far (or malformed: ends in timeout)
                    continue
    except OSError as err:  # missing socket, refused, timeout
        raise SPDKError(f"{method}: {err}") from err
    if not isinstance(response, dict):
        raise SPDKError(f"{method}: response is not a JSON-RPC object")
    if "error" in response:
        raise SPDKError(f"{method}: {response['error']}")
    return response.get("result")


def _objects(value: Any) -> list[dict[str, Any]]:
    """The JSON objects of a list result; anything else counts as none."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _capacity_gb(bdevs: Iterable[Mapping[str, Any] | None]) -> str | None:
    total = 0
    for bdev in bdevs:
        if bdev is None:
            return None
        size, count = bdev.get("block_size"), bdev.get("num_blocks")
        if not isinstance(size, int) or not isinstance(count, int):
            return None
        total += size * count
    return str(total // 2**30)


def _handle(attach_type: AttachType, info: Mapping[str, Any]) -> tuple[AttachHandleReport, ...]:
    """One handle of ``info`` (string values), or none when it does not fit its column."""
    text = canonical_json({k: str(v) for k, v in info.items()})
    if len(text) > MAX_ATTACH_INFO:
        LOG.warning("SPDK %s handle %s is too long to store; left out", attach_type, text)
        return ()
    return (AttachHandleReport(attach_type.value, text),)


def nvmf_handle(nqn: str, listeners: list[dict[str, Any]]) -> tuple[AttachHandleReport, ...]:
    """The connect parameters of the first complete listener (none: no handle)."""
    keys = ("trtype", "adrfam", "traddr", "trsvcid")
    for listener in listeners:
        if all(isinstance(listener.get(k), str) and listener[k] for k in keys):
            return _handle(AttachType.NVMF, {"subnqn": nqn, **{k: listener[k] for k in keys}})
    LOG.info("NVMe-oF subsystem %s has no listener: no attach handle", nqn)
    return ()


def vhost_handle(ctrlr: str, socket_path: Any, transport: str) -> tuple[AttachHandleReport, ...]:
    if not isinstance(socket_path, str) or not socket_path:
        LOG.info("vhost controller %s reports no socket: no attach handle", ctrlr)
        return ()
    info = {"ctrlr": ctrlr, "socket": socket_path, "transport": transport}
    return _handle(AttachType.VHOST_USER, info)


class _SPDKDriver(Driver):
    resource_class: str

    def __init__(
        self,
        conf: Any,
        root: str = "/",
        hostname: str = "localhost",
        socket_path: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        super().__init__(conf, root=root, hostname=hostname)
        self.socket_path = socket_path or os.path.join(root, DEFAULT_SOCKET)
        self.timeout = timeout

    def discover(self) -> list[DeviceReport]:
        """[] when SPDK does not run here (no socket); an error when it fails.

        A failure must raise: the agent then skips the cycle, whereas [] would tell the
        conductor that every SPDK device is gone and have them removed.
        """
        if not os.path.exists(self.socket_path):
            LOG.debug("%s: no SPDK socket at %s", self.name, self.socket_path)
            return []
        return self._discover()

    def _discover(self) -> list[DeviceReport]:
        raise NotImplementedError

    def _bdevs(self) -> dict[str, dict[str, Any]]:
        bdevs = _objects(rpc_call(self.socket_path, "bdev_get_bdevs", self.timeout))
        return {b["name"]: b for b in bdevs if isinstance(b.get("name"), str)}

    def _device(
        self,
        identity: Mapping[str, str],
        name: str,
        model: str,
        resource_class: str,
        attributes: Mapping[str, str | None],
        handles: tuple[AttachHandleReport, ...],
    ) -> DeviceReport:
        deployable = DeployableReport(
            name=f"{self.hostname}_{name}",
            num_accelerators=1,
            resource_class=resource_class,
            driver_name=DRIVER_NAME,
            attributes=tuple(sorted((k, v) for k, v in attributes.items() if v is not None)),
            attach_handles=handles,
        )
        return DeviceReport(
            type="SSD",
            vendor=VENDOR,
            model=model,
            controlpath=canonical_json(identity),
            deployables=(deployable,),
        )


class NVMfSPDKDriver(_SPDKDriver):
    """Each NVMe-oF subsystem of an SPDK ``nvmf_tgt`` (the discovery one excepted)."""

    name = "nvmf_spdk_driver"

    def _discover(self) -> list[DeviceReport]:
        subsystems = _objects(rpc_call(self.socket_path, "nvmf_get_subsystems", self.timeout))
        bdevs = self._bdevs()
        devices = []
        for subsystem in subsystems:
            nqn = subsystem.get("nqn")
            if not isinstance(nqn, str) or not nqn:
                continue
            if subsystem.get("subtype") == "Discovery" or nqn == DISCOVERY_NQN:
                continue
            names = [
                ns.get("bdev_name") or ns.get("name")
                for ns in _objects(subsystem.get("namespaces"))
            ]
            backing = [bdevs.get(n) if isinstance(n, str) else None for n in names]
            listeners = _objects(subsystem.get("listen_addresses"))
            transports = sorted({str(a["trtype"]) for a in listeners if a.get("trtype")})
            product = next((b.get("product_name") for b in backing if b), None)
            model = subsystem.get("model_number") or product or "NVMe-oF subsystem"
            attributes = {
                ATTR_CAPACITY_GB: _capacity_gb(backing) if backing else None,
                ATTR_TRANSPORT: ",".join(transports) or None,
            }
            devices.append(
                self._device(
                    {"type": "NVMF", "nqn": nqn},
                    nqn,
                    str(model),
                    "CUSTOM_NVME_OF",
                    attributes,
                    nvmf_handle(nqn, listeners),
                )
            )
        return devices


class VhostSPDKDriver(_SPDKDriver):
    """Each vhost-user controller of an SPDK ``vhost`` target (block or SCSI)."""

    name = "vhost_spdk_driver"

    def _discover(self) -> list[DeviceReport]:
        controllers = _objects(rpc_call(self.socket_path, "vhost_get_controllers", self.timeout))
        bdevs = self._bdevs()
        devices = []
        for controller in controllers:
            ctrlr = controller.get("ctrlr")
            backend = controller.get("backend_specific")
            if not isinstance(ctrlr, str) or not ctrlr or not isinstance(backend, dict):
                continue
            block = backend.get("block")
            if isinstance(block, dict):
                names = [block.get("bdev")]
                resource_class = "CUSTOM_VHOST_BLK"
                transport = str(block.get("transport") or "vhost_user_blk")
            elif isinstance(backend.get("scsi"), list):
                names = [
                    lun.get("bdev_name")
                    for target in _objects(backend["scsi"])
                    for lun in _objects(target.get("luns"))
                ]
                resource_class, transport = "CUSTOM_VHOST_SCSI", "vhost_user_scsi"
            else:  # vhost-nvme (removed from SPDK) or unknown: nothing to offer
                continue
            backing = [bdevs.get(n) if isinstance(n, str) else None for n in names]
            product = next((b.get("product_name") for b in backing if b), None)
            attributes = {
                ATTR_CAPACITY_GB: _capacity_gb(backing) if backing else None,
                ATTR_TRANSPORT: transport,
            }
            devices.append(
                self._device(
                    {"type": "VHOST", "ctrlr": ctrlr},
                    ctrlr,
                    str(product or "vhost controller"),
                    resource_class,
                    attributes,
                    vhost_handle(ctrlr, controller.get("socket"), transport),
                )
            )
        return devices
