"""SPDK targets for the conductor's binds: the agent side of ``create_spdk_target`` and
``remove_spdk_target`` (cyborg.agent.manager).

The conductor names a target by its attach handle, type (NVMF, VHOST_USER) and info
as the SPDK drivers reported them; cyborg.drivers.spdk_exports makes or removes it
through the SPDK application the host's SPDK driver talks to. Failures reach the
conductor as SPDKTargetError, whose message becomes the bind's failure reason.
"""

import json
from collections.abc import Sequence
from typing import Any

from oslo_log import log

from cyborg.agent.rpcapi import SPDK_CALL_TIMEOUT
from cyborg.common import exception
from cyborg.drivers.base import Driver
from cyborg.drivers.spdk import SPDKDriver
from cyborg.drivers.spdk_exports import TYPES, Exports
from cyborg.drivers.spdk_rpc import SPDKError

LOG = log.getLogger(__name__)


class SPDKTargets:
    """The two RPC methods' work, through the first SPDK driver the agent runs."""

    def __init__(self, hostname: str, drivers: Sequence[Driver]) -> None:
        self.hostname = hostname
        spdk = next((d for d in _flatten(drivers) if isinstance(d, SPDKDriver)), None)
        self.exports = (
            None
            if spdk is None
            else Exports(spdk.socket_path, timeout=min(spdk.timeout, SPDK_CALL_TIMEOUT))
        )

    def create(self, attach_type: str, attach_info: str) -> None:
        self._run("Creating", attach_type, attach_info)

    def remove(self, attach_type: str, attach_info: str) -> None:
        self._run("Removing", attach_type, attach_info)

    def _run(self, action: str, attach_type: str, attach_info: str) -> None:
        info = _info(attach_type, attach_info)
        target = info.get("subnqn") or info.get("ctrlr") or "?"

        def failed(reason: str) -> exception.SPDKTargetError:
            return exception.SPDKTargetError(
                action=action, target=target, host=self.hostname, reason=reason
            )

        if self.exports is None:
            raise failed("no SPDK driver runs on this host ([agent] enabled_drivers)")
        try:
            if action == "Creating":
                self.exports.create(attach_type, info)
            else:
                self.exports.remove(attach_type, info)
        except SPDKError as err:
            LOG.error("%s SPDK target %s failed: %s", action, target, err)
            raise failed(str(err)) from err


def _info(attach_type: str, attach_info: str) -> dict[str, str]:
    """The handle's info, checked: a JSON object of strings with its type's keys."""
    try:
        info: Any = json.loads(attach_info)
    except ValueError:
        info = None
    required = {
        "NVMF": ("subnqn", "trtype", "adrfam", "traddr", "trsvcid"),
        "VHOST_USER": ("ctrlr",),
    }
    if (
        attach_type not in TYPES
        or not isinstance(info, dict)
        or not all(isinstance(v, str) for v in info.values())
        or not all(info.get(k) for k in required[attach_type])
    ):
        raise exception.InvalidParameterValue(
            name="attach_info", reason=f"not an SPDK {attach_type} attach handle: {attach_info}"
        )
    return info


def _flatten(drivers: Sequence[Driver]) -> list[Driver]:
    """The drivers, with those a FirstThatFinds (the all-in-one) holds."""
    found: list[Driver] = []
    for driver in drivers:
        found.append(driver)
        found.extend(_flatten(getattr(driver, "drivers", [])))
    return found
