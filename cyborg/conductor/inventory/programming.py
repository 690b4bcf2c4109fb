"""Program an FPGA deployable with a Glance image, through the agent of its host.

The conductor checks that the deployable is an FPGA with a control path, asks the
agent on ``server=device.hostname`` (cyborg.agent.manager.fpga_program), and records
the image as the deployable's ``bitstream_id`` when the agent succeeded (upstream
Cyborg leaves it unset). When the caller knows the image's function, the deployable's
function traits move to it at once, in the database and Placement
(cyborg.conductor.inventory.function_traits); a failure leaves them alone. The
agent's errors (image not found, download or tool failure) reach the API as they
are; an agent that does not answer is a 503.
"""

import dataclasses
from collections.abc import Callable

import oslo_messaging
from oslo_log import log

from cyborg.agent import rpcapi as agent_rpcapi
from cyborg.clients import placement as placement_client
from cyborg.common import constants, exception
from cyborg.common.context import RequestContext
from cyborg.conductor.inventory import function_traits
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import controlpath as controlpath_obj
from cyborg.objects import deployable as deployable_obj
from cyborg.objects import device as device_obj

LOG = log.getLogger(__name__)

IN_USE_STATES = (constants.ARQState.BIND_STARTED, constants.ARQState.BOUND)


@dataclasses.dataclass(frozen=True)
class FunctionChange:
    """What the programmed image does: its ``accel:function_id`` (None: not given)."""

    function_id: str | None


def _target(
    context: RequestContext, deployable_uuid: str, *, for_bind: bool = False
) -> tuple[deployable_obj.Deployable, device_obj.Device, controlpath_obj.ControlpathID]:
    """The deployable, its device and control path; 409 unless it is a programmable FPGA.

    Outside a bind, a deployable that accelerator requests hold is refused too.
    """
    deployable = deployable_obj.get_by_uuid(context, deployable_uuid)
    device = device_obj.get_by_id(context, deployable.device_id)
    if device.type != constants.DeviceType.FPGA.value:
        raise exception.DeployableNotProgrammable(
            uuid=deployable_uuid, reason=f"its device is a {device.type}, not an FPGA"
        )
    if (
        not for_bind
        and deployable.rp_uuid
        and arq_obj.get_all(context, device_rp_uuid=deployable.rp_uuid, states=IN_USE_STATES)
    ):
        # Reprogramming would change the function under a running instance.
        raise exception.DeployableNotProgrammable(
            uuid=deployable_uuid, reason="accelerator requests are bound to it"
        )
    controlpaths = controlpath_obj.get_all(context, device_id=device.id)
    if not controlpaths:
        raise exception.DeployableNotProgrammable(
            uuid=deployable_uuid, reason="its device has no control path"
        )
    return deployable, device, controlpaths[0]


def program_deployable(
    context: RequestContext,
    agent: agent_rpcapi.AgentAPI,
    *,
    deployable_uuid: str,
    image_uuid: str,
    for_bind: bool = False,
    placement: placement_client.PlacementClient | None = None,
    function: Callable[[], FunctionChange | None] | None = None,
) -> None:
    """Program ``deployable_uuid`` with ``image_uuid`` through the host's agent.

    ``for_bind``: the caller is binding an ARQ to it (cyborg.conductor.binding.fpga_step).
    ``function``: finds the image's function (asked once the deployable is known to be
    a programmable FPGA), whose trait replaces the deployable's function traits once
    programmed; None, or its answer None: leave them to the agent's next report.
    """
    deployable, device, controlpath = _target(context, deployable_uuid, for_bind=for_bind)
    change = None if function is None else function()
    LOG.info(
        "Programming deployable %s on %s with image %s",
        deployable.uuid,
        device.hostname,
        image_uuid,
    )
    try:
        agent.fpga_program(
            context,
            device.hostname,
            controlpath_id={
                "cpid_type": controlpath.cpid_type,
                "cpid_info": controlpath.cpid_info,
            },
            bitstream_uuid=image_uuid,
            driver_name=deployable.driver_name,
        )
    except oslo_messaging.MessagingTimeout as err:
        raise exception.AgentUnavailable(host=device.hostname) from err
    deployable_obj.update(context, deployable.uuid, bitstream_id=image_uuid)
    if change is not None:
        function_traits.after_programming(
            context, placement, deployable, device.hostname, change.function_id
        )
