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

Exports per bind. The bdevs named in ``[agent] spdk_nvmf_export_bdevs`` and
``spdk_vhost_export_bdevs`` are devices of their own (control path
``{"bdev": ..., "type": "NVMF"|"VHOST"}``), whose handle names the target a bind has
the agent create (cyborg.drivers.spdk_exports): the NVMe-oF subsystem
``nqn.2016-06.io.spdk:cyborg-<bdev>`` listening at ``spdk_nvmf_listen_address``, or
the vhost-user-blk controller ``cyborg-<bdev>`` with its socket in
``spdk_vhost_socket_dir``. The handle's ``bdev`` key marks it as made per bind; the
subsystems and controllers named ``cyborg-...`` are those exports, never devices.

An SPDK that is absent, not running or answering nonsense is logged and reported as
no devices, never raised.
"""

import json
import os
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
from cyborg.drivers.spdk_exports import (
    EXPORT_NQN_PREFIX,
    EXPORT_PREFIX,
    LISTENER_KEYS,
    export_name,
)
from cyborg.drivers.spdk_rpc import SPDKError, objects, rpc_call  # noqa: F401 - the API

LOG = log.getLogger(__name__)

DEFAULT_SOCKET = "var/tmp/spdk.sock"  # relative to the driver's root
DISCOVERY_NQN = "nqn.2014-08.org.nvmexpress.discovery"
VENDOR = "SPDK"
DRIVER_NAME = "spdk"
ATTR_CAPACITY_GB = "capacity_gb"  # GiB (2**30 bytes), rounded down
ATTR_TRANSPORT = "transport"
MAX_ATTACH_INFO = 255  # attach_handles.attach_info is a VARCHAR(255)
DEFAULT_VHOST_SOCKET_DIR = "/var/tmp"  # noqa: S108 - SPDK's own default


def _agent_option(conf: Any, name: str, default: Any) -> Any:
    """An ``[agent]`` option; ``default`` for a driver built without configuration."""
    group = getattr(conf, "agent", None)
    return getattr(group, name, default) if group is not None else default


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
    for listener in listeners:
        if all(isinstance(listener.get(k), str) and listener[k] for k in LISTENER_KEYS):
            info = {"subnqn": nqn, **{k: listener[k] for k in LISTENER_KEYS}}
            return _handle(AttachType.NVMF, info)
    LOG.info("NVMe-oF subsystem %s has no listener: no attach handle", nqn)
    return ()


def vhost_handle(ctrlr: str, socket_path: Any, transport: str) -> tuple[AttachHandleReport, ...]:
    if not isinstance(socket_path, str) or not socket_path:
        LOG.info("vhost controller %s reports no socket: no attach handle", ctrlr)
        return ()
    info = {"ctrlr": ctrlr, "socket": socket_path, "transport": transport}
    return _handle(AttachType.VHOST_USER, info)


class SPDKDriver(Driver):
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
        bdevs = objects(rpc_call(self.socket_path, "bdev_get_bdevs", self.timeout))
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


class NVMfSPDKDriver(SPDKDriver):
    """Each NVMe-oF subsystem of an SPDK ``nvmf_tgt`` (the discovery one excepted)."""

    name = "nvmf_spdk_driver"

    def _discover(self) -> list[DeviceReport]:
        subsystems = objects(rpc_call(self.socket_path, "nvmf_get_subsystems", self.timeout))
        bdevs = self._bdevs()
        devices = []
        for subsystem in subsystems:
            nqn = subsystem.get("nqn")
            if not isinstance(nqn, str) or not nqn:
                continue
            if subsystem.get("subtype") == "Discovery" or nqn == DISCOVERY_NQN:
                continue
            if nqn.startswith(EXPORT_NQN_PREFIX):  # made per bind: its bdev is the device
                continue
            names = [
                ns.get("bdev_name") or ns.get("name")
                for ns in objects(subsystem.get("namespaces"))
            ]
            backing = [bdevs.get(n) if isinstance(n, str) else None for n in names]
            listeners = objects(subsystem.get("listen_addresses"))
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
        return devices + self._exports(bdevs)

    def _exports(self, bdevs: Mapping[str, Mapping[str, Any]]) -> list[DeviceReport]:
        listener = dict(_agent_option(self.conf, "spdk_nvmf_listen_address", {}))
        devices = []
        for name, bdev in _exported(self.conf, "spdk_nvmf_export_bdevs", bdevs):
            info = {k: listener.get(k, "") for k in LISTENER_KEYS}
            handle = nvmf_handle(EXPORT_NQN_PREFIX + name[len(EXPORT_PREFIX) :], [info])
            attributes = {
                ATTR_CAPACITY_GB: _capacity_gb([bdev]),
                ATTR_TRANSPORT: info["trtype"] or None,
            }
            devices.append(
                self._device(
                    {"type": "NVMF", "bdev": bdev["name"]},
                    f"nvmf_{bdev['name']}",
                    str(bdev.get("product_name") or "NVMe-oF export"),
                    "CUSTOM_NVME_OF",
                    attributes,
                    _with_bdev(handle, bdev["name"]),
                )
            )
        return devices


class VhostSPDKDriver(SPDKDriver):
    """Each vhost-user controller of an SPDK ``vhost`` target (block or SCSI)."""

    name = "vhost_spdk_driver"

    def _discover(self) -> list[DeviceReport]:
        controllers = objects(rpc_call(self.socket_path, "vhost_get_controllers", self.timeout))
        bdevs = self._bdevs()
        devices = []
        for controller in controllers:
            ctrlr = controller.get("ctrlr")
            backend = controller.get("backend_specific")
            if not isinstance(ctrlr, str) or not ctrlr or not isinstance(backend, dict):
                continue
            if ctrlr.startswith(EXPORT_PREFIX):  # made per bind: its bdev is the device
                continue
            block = backend.get("block")
            if isinstance(block, dict):
                names = [block.get("bdev")]
                resource_class = "CUSTOM_VHOST_BLK"
                transport = str(block.get("transport") or "vhost_user_blk")
            elif isinstance(backend.get("scsi"), list):
                names = [
                    lun.get("bdev_name")
                    for target in objects(backend["scsi"])
                    for lun in objects(target.get("luns"))
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
        return devices + self._exports(bdevs)

    def _exports(self, bdevs: Mapping[str, Mapping[str, Any]]) -> list[DeviceReport]:
        option = _agent_option(self.conf, "spdk_vhost_socket_dir", DEFAULT_VHOST_SOCKET_DIR)
        directory = str(option)
        devices = []
        for name, bdev in _exported(self.conf, "spdk_vhost_export_bdevs", bdevs):
            handle = vhost_handle(name, os.path.join(directory, name), "vhost_user_blk")
            attributes = {
                ATTR_CAPACITY_GB: _capacity_gb([bdev]),
                ATTR_TRANSPORT: "vhost_user_blk",
            }
            devices.append(
                self._device(
                    {"type": "VHOST", "bdev": bdev["name"]},
                    f"vhost_{bdev['name']}",
                    str(bdev.get("product_name") or "vhost export"),
                    "CUSTOM_VHOST_BLK",
                    attributes,
                    _with_bdev(handle, bdev["name"]),
                )
            )
        return devices


def _exported(
    conf: Any, option: str, bdevs: Mapping[str, Mapping[str, Any]]
) -> list[tuple[str, Mapping[str, Any]]]:
    """(export name, bdev) of each configured bdev that exists; one per export name."""
    found: dict[str, Mapping[str, Any]] = {}
    for bdev_name in _agent_option(conf, option, []):
        bdev = bdevs.get(bdev_name)
        name = export_name(bdev_name)
        if bdev is None:
            LOG.warning("[agent] %s names bdev %s, which SPDK does not have", option, bdev_name)
        elif name in found:
            LOG.warning(
                "[agent] %s: bdevs %s and %s export as one name %s; the second is left out",
                option,
                found[name]["name"],
                bdev_name,
                name,
            )
        else:
            found[name] = bdev
    return list(found.items())


def _with_bdev(
    handles: tuple[AttachHandleReport, ...], bdev: str
) -> tuple[AttachHandleReport, ...]:
    """The handles, marked as exports of ``bdev`` made per bind."""
    marked: list[AttachHandleReport] = []
    for handle in handles:
        info = {**json.loads(handle.attach_info), "bdev": bdev}
        marked.extend(_handle(AttachType(handle.attach_type), info))
    return tuple(marked)
