"""SPDK targets made per bind: create and remove them through SPDK's JSON-RPC.

An attach handle the SPDK drivers report for a bdev of ``[agent]
spdk_nvmf_export_bdevs`` or ``spdk_vhost_export_bdevs`` carries ``bdev`` in its info
(cyborg.drivers.spdk); binding it has the agent ``create`` the target it names,
unbinding it ``remove`` that target:

* NVMF: ``nvmf_create_transport`` (only when ``nvmf_get_transports`` lacks it),
  ``nvmf_create_subsystem`` (``nqn``, ``serial_number``, ``model_number``,
  ``allow_any_host``), ``nvmf_subsystem_add_ns`` (``namespace.bdev_name``),
  ``nvmf_subsystem_add_listener`` (``listen_address``: ``trtype``, ``adrfam``,
  ``traddr``, ``trsvcid``); removed by ``nvmf_delete_subsystem``;
* VHOST_USER: ``vhost_create_blk_controller`` (``ctrlr``, ``dev_name``); removed by
  ``vhost_delete_controller``.

Both are idempotent, as the conductor may repeat them (a resumed bind, a retried
removal): each first lists what SPDK has (``nvmf_get_subsystems``,
``vhost_get_controllers``); a complete target is left as it is, a partial one (an
interrupted create) is deleted and made again, a missing one is no error to remove.
A create that fails part way deletes its subsystem before raising, so no half-made
target stays behind. Every call is bounded by the socket timeout, and a create makes
at most eight calls.

A handle without ``bdev`` is an operator's target: ``create`` only checks that it
still exists, ``remove`` leaves it alone.
"""

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from oslo_log import log

from cyborg.common.constants import AttachType
from cyborg.drivers.spdk_rpc import SPDKError, objects, rpc_call

LOG = log.getLogger(__name__)

EXPORT_PREFIX = "cyborg-"  # the subsystems and controllers made per bind
EXPORT_NQN_PREFIX = f"nqn.2016-06.io.spdk:{EXPORT_PREFIX}"
LISTENER_KEYS = ("trtype", "adrfam", "traddr", "trsvcid")
MODEL_NUMBER = "Cyborg SPDK export"
TYPES = frozenset({AttachType.NVMF.value, AttachType.VHOST_USER.value})


def export_name(bdev: str) -> str:
    """The name of the controller (and NQN suffix) that exports ``bdev`` per bind."""
    return EXPORT_PREFIX + re.sub(r"[^A-Za-z0-9._-]", "-", bdev)


def serial_number(nqn: str) -> str:
    """A stable serial of at most 20 characters (NVMe's limit) for a subsystem."""
    return "CY" + hashlib.sha256(nqn.encode()).hexdigest()[:18].upper()


class Exports:
    """The per-bind targets of one SPDK application, at ``socket_path``."""

    def __init__(self, socket_path: str, timeout: float = 5.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def _call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        return rpc_call(self.socket_path, method, self.timeout, params)

    def create(self, attach_type: str, info: Mapping[str, str]) -> None:
        """Make the target of handle ``info`` exist (check it, for an operator's)."""
        if attach_type == AttachType.NVMF:
            self._create_subsystem(info)
        elif attach_type == AttachType.VHOST_USER:
            self._create_controller(info)
        else:
            raise SPDKError(f"attach type {attach_type} is not an SPDK target")

    def remove(self, attach_type: str, info: Mapping[str, str]) -> None:
        """Remove the target made for handle ``info``; one already gone is no error."""
        if "bdev" not in info:
            return  # the operator's target: not ours to remove
        if attach_type == AttachType.NVMF:
            if self._subsystem(info["subnqn"]) is not None:
                self._call("nvmf_delete_subsystem", {"nqn": info["subnqn"]})
                LOG.info("Deleted NVMe-oF subsystem %s", info["subnqn"])
        elif attach_type == AttachType.VHOST_USER:
            if self._controller(info["ctrlr"]) is not None:
                self._call("vhost_delete_controller", {"ctrlr": info["ctrlr"]})
                LOG.info("Deleted vhost controller %s", info["ctrlr"])
        else:
            raise SPDKError(f"attach type {attach_type} is not an SPDK target")

    # -- NVMe-oF ----------------------------------------------------------------------

    def _subsystem(self, nqn: str) -> dict[str, Any] | None:
        subsystems = objects(self._call("nvmf_get_subsystems"))
        return next((s for s in subsystems if s.get("nqn") == nqn), None)

    def _create_subsystem(self, info: Mapping[str, str]) -> None:
        nqn = info["subnqn"]
        existing = self._subsystem(nqn)
        if "bdev" not in info:
            if existing is None:
                raise SPDKError(f"NVMe-oF subsystem {nqn} is gone")
            return
        if existing is not None:
            if _complete(existing, info):
                return
            LOG.warning("NVMe-oF subsystem %s is incomplete; making it again", nqn)
            self._call("nvmf_delete_subsystem", {"nqn": nqn})
        self._ensure_transport(info["trtype"])
        self._call(
            "nvmf_create_subsystem",
            {
                "nqn": nqn,
                "serial_number": serial_number(nqn),
                "model_number": MODEL_NUMBER,
                "allow_any_host": True,
            },
        )
        try:
            self._call(
                "nvmf_subsystem_add_ns", {"nqn": nqn, "namespace": {"bdev_name": info["bdev"]}}
            )
            listener = {k: info[k] for k in LISTENER_KEYS}
            self._call("nvmf_subsystem_add_listener", {"nqn": nqn, "listen_address": listener})
        except SPDKError:
            self._delete_quietly(nqn)
            raise
        LOG.info("Created NVMe-oF subsystem %s over bdev %s", nqn, info["bdev"])

    def _ensure_transport(self, trtype: str) -> None:
        transports = objects(self._call("nvmf_get_transports"))
        if any(str(t.get("trtype", "")).upper() == trtype.upper() for t in transports):
            return
        try:
            self._call("nvmf_create_transport", {"trtype": trtype})
        except SPDKError as err:  # made meanwhile by someone else: what was wanted
            if "already exists" not in (err.message or ""):
                raise

    def _delete_quietly(self, nqn: str) -> None:
        try:
            self._call("nvmf_delete_subsystem", {"nqn": nqn})
        except SPDKError as err:
            LOG.error("Could not delete the half-made NVMe-oF subsystem %s: %s", nqn, err)

    # -- vhost ------------------------------------------------------------------------

    def _controller(self, ctrlr: str) -> dict[str, Any] | None:
        controllers = objects(self._call("vhost_get_controllers"))
        return next((c for c in controllers if c.get("ctrlr") == ctrlr), None)

    def _create_controller(self, info: Mapping[str, str]) -> None:
        ctrlr = info["ctrlr"]
        existing = self._controller(ctrlr)
        if "bdev" not in info:
            if existing is None:
                raise SPDKError(f"vhost controller {ctrlr} is gone")
            return
        if existing is not None:
            if _block_bdev(existing) == info["bdev"]:
                return
            LOG.warning("vhost controller %s exports another bdev; making it again", ctrlr)
            self._call("vhost_delete_controller", {"ctrlr": ctrlr})
        self._call("vhost_create_blk_controller", {"ctrlr": ctrlr, "dev_name": info["bdev"]})
        LOG.info("Created vhost-user-blk controller %s over bdev %s", ctrlr, info["bdev"])


def _complete(subsystem: Mapping[str, Any], info: Mapping[str, str]) -> bool:
    """Whether a subsystem exports the handle's bdev at the handle's listener."""
    names = {ns.get("bdev_name") or ns.get("name") for ns in objects(subsystem.get("namespaces"))}
    wanted = {k: info[k].upper() for k in ("trtype", "adrfam")}
    wanted.update({k: info[k] for k in ("traddr", "trsvcid")})
    listeners = [
        {
            k: (str(a.get(k, "")).upper() if k in ("trtype", "adrfam") else a.get(k))
            for k in LISTENER_KEYS
        }
        for a in objects(subsystem.get("listen_addresses"))
    ]
    return names == {info["bdev"]} and wanted in listeners


def _block_bdev(controller: Mapping[str, Any]) -> Any:
    backend = controller.get("backend_specific")
    block = backend.get("block") if isinstance(backend, dict) else None
    return block.get("bdev") if isinstance(block, dict) else None
