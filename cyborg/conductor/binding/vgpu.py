"""vGPU mediated devices for ARQs bound to MDEV attach handles.

A VGPU deployable's attach handles are mdev slots (cyborg.drivers.nvidia_gpu): binding
an ARQ to one has the agent of the device's host create the mdev, named by the
handle's uuid, on the handle's PCI function and vGPU type; unbinding or deleting the
ARQ has it removed (cyborg.agent.manager.create_vgpu_mdev / remove_vgpu_mdev).

One rule keeps the hosts and the database in step: **an mdev exists only while its
handle is in use.** So a bind claims the handle before the mdev is created (the ARQ
stays BindStarted meanwhile, see cyborg.conductor.binding.bind_flow), and an ARQ that
lets go of an MDEV handle (unbind, delete, failed bind) leaves it in use, *held*, until the agent
has removed the mdev; only then is the handle freed. A removal that fails (agent down)
leaves the handle held, and the conductors' periodic task tries again
(remove_abandoned). Both agent calls are idempotent, so repeating one is harmless.

SPDK targets follow the same rule with other agent calls: an NVMF or VHOST_USER
handle has the agent create its NVMe-oF subsystem or vhost controller between the
claim and Bound, and remove it before the handle is freed
(cyborg.agent.manager.create_spdk_target / remove_spdk_target; for an operator's
target the create only checks that it exists, and the removal does nothing).
"""

import datetime
from collections.abc import Callable, Collection
from typing import Any

import oslo_messaging
from oslo_log import log
from oslo_serialization import jsonutils
from oslo_utils import timeutils

from cyborg.agent import rpcapi as agent_rpcapi
from cyborg.common import constants, exception, profile_rules
from cyborg.common.context import RequestContext
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import attach_handle

LOG = log.getLogger(__name__)


def pci_address(info: dict[str, str]) -> str:
    """An attach_info's PCI address as the agent takes it: "0000:3b:00.0"."""
    return f"{info['domain']}:{info['bus']}:{info['device']}.{info['function']}"


class MdevAgent:
    """The agent calls of vGPU binds, over cyborg.agent.rpcapi.AgentAPI."""

    def __init__(self, agent: agent_rpcapi.AgentAPI) -> None:
        self.agent = agent

    def held_grace(self) -> datetime.timedelta:
        """A held handle younger than this may still have its removal under way (an
        unbind waits for the agent up to ``[agent] mdev_timeout``, or SPDK_TIMEOUT): the
        periodic retry leaves it alone."""
        waited = max(self.agent.conf.agent.mdev_timeout, agent_rpcapi.SPDK_TIMEOUT)
        return datetime.timedelta(seconds=2 * waited)

    def needed(self, arq: arq_obj.AcceleratorRequest) -> bool:
        """Whether the ARQ's group asks for a vGPU or an SPDK target (so its bind is
        finished in the background, as the agent is called); the handle's type decides
        the rest."""
        group = arq.device_profile_group
        return profile_rules.asks_for_vgpu(group) or profile_rules.asks_for_spdk_target(group)

    def create(self, context: RequestContext, target: attach_handle.MdevTarget) -> None:
        if target.attach_type in constants.SPDK_TARGET_TYPES:
            self._call_spdk(context, self.agent.create_spdk_target, target)
        else:
            self._call(context, self.agent.create_vgpu_mdev, target)

    def remove(self, context: RequestContext, target: attach_handle.MdevTarget) -> None:
        if target.attach_type in constants.SPDK_TARGET_TYPES:
            self._call_spdk(context, self.agent.remove_spdk_target, target)
        else:
            self._call(context, self.agent.remove_vgpu_mdev, target)

    def _call(
        self, context: RequestContext, method: Callable[..., Any], target: attach_handle.MdevTarget
    ) -> None:
        info = target.attach_info
        try:
            method(
                context,
                target.hostname,
                pci_addr=pci_address(info),
                asked_type=info.get("asked_type", ""),
                ah_uuid=target.uuid,
            )
        except oslo_messaging.MessagingTimeout as err:
            raise exception.AgentUnavailable(host=target.hostname) from err

    def _call_spdk(
        self, context: RequestContext, method: Callable[..., Any], target: attach_handle.MdevTarget
    ) -> None:
        try:
            method(
                context,
                target.hostname,
                attach_type=target.attach_type,
                attach_info=jsonutils.dumps(target.attach_info, sort_keys=True),
            )
        except oslo_messaging.MessagingTimeout as err:
            raise exception.AgentUnavailable(host=target.hostname) from err


def create(context: RequestContext, mdevs: MdevAgent, handle_id: int) -> None:
    """Have the agent create the mdev of MDEV handle ``handle_id`` (claimed by a bind)."""
    (target,) = attach_handle.get_mdev_targets(context, ids=[handle_id])
    LOG.info("Creating %s of handle %s on host %s", _what(target), target.uuid, target.hostname)
    mdevs.create(context, target)


def remove_held(
    context: RequestContext, mdevs: MdevAgent | None, handle_ids: Collection[int]
) -> None:
    """Remove the mdevs of these held handles and free each handle whose mdev is gone.

    A removal that fails is logged; its handle stays held for remove_abandoned. Without
    ``mdevs`` (no agents to ask) the handles are simply freed.
    """
    if handle_ids:
        _remove_all(context, mdevs, attach_handle.get_mdev_targets(context, ids=handle_ids))


def remove_abandoned(
    context: RequestContext, mdevs: MdevAgent, grace: datetime.timedelta | None = None
) -> list[str]:
    """The periodic retry: remove the mdevs of handles held for longer than ``grace``
    (by default ``mdevs.held_grace()``).

    Returns the uuids of the handles tried. Several conductors may run it at once:
    attach_handle.take_held lets one of them have each handle.
    """
    cutoff = timeutils.utcnow() - (mdevs.held_grace() if grace is None else grace)
    taken = [
        target
        for target in attach_handle.get_mdev_targets(context, held_before=cutoff)
        if attach_handle.take_held(context, target.id, cutoff)
    ]
    _remove_all(context, mdevs, taken)
    return [target.uuid for target in taken]


def _remove_all(
    context: RequestContext, mdevs: MdevAgent | None, targets: list[attach_handle.MdevTarget]
) -> None:
    """Remove each target's mdev, then free its handle; after one agent did not answer,
    its host's other targets are left held (one timeout per host, not one per mdev)."""
    silent: set[str] = set()
    for target in targets:
        try:
            if target.hostname in silent:
                raise exception.AgentUnavailable(host=target.hostname)
            if mdevs is not None:
                mdevs.remove(context, target)
        except Exception as err:
            if isinstance(err, exception.AgentUnavailable):
                silent.add(target.hostname)
            LOG.warning(
                "Could not remove the %s of handle %s on host %s (%s); the attach handle "
                "stays in use and the conductor tries again later",
                _what(target),
                target.uuid,
                target.hostname,
                err,
            )
            continue
        attach_handle.release_held(context, target.id)
        LOG.info(
            "Removed the %s of handle %s on host %s", _what(target), target.uuid, target.hostname
        )


def _what(target: attach_handle.MdevTarget) -> str:
    return "SPDK target" if target.attach_type in constants.SPDK_TARGET_TYPES else "vGPU mdev"
