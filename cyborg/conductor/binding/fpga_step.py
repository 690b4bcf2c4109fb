"""FPGA programming as a step of binding an ARQ (device profile ``accel:*`` keys).

A group with ``accel:bitstream_id=<image>`` asks for that Glance image on the FPGA;
one with ``accel:function_id=<id>`` for the one active image whose
``accel:function_id`` property is ``<id>``. Both at once is refused. When the
deployable already holds the image, nothing is programmed. The agent reports the
new function afterwards, which moves the provider's function traits in Placement.
"""

from collections.abc import Mapping

from oslo_config import cfg
from oslo_log import log

from cyborg.agent import rpcapi as agent_rpcapi
from cyborg.clients import glance
from cyborg.common import profile_rules
from cyborg.common.context import RequestContext
from cyborg.conductor.inventory import programming
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import deployable as deployable_obj

LOG = log.getLogger(__name__)


def requested_image(
    conf: cfg.ConfigOpts, context: RequestContext, group: Mapping[str, str]
) -> str | None:
    """The image the group asks to program, or None; Invalid for both keys at once."""
    profile_rules.check_programming(group)
    if profile_rules.BITSTREAM_KEY in group:
        return group[profile_rules.BITSTREAM_KEY]
    if profile_rules.FUNCTION_KEY in group:
        function_id = group[profile_rules.FUNCTION_KEY]
        return glance.find_function_image(glance.adapter(conf, context), function_id)
    return None


class FPGAProgrammingStep:
    """The bind step that programs the FPGA (a binder.BindStep)."""

    def __init__(self, conf: cfg.ConfigOpts, agent: agent_rpcapi.AgentAPI) -> None:
        self.conf = conf
        self.agent = agent

    def needed(self, arq: arq_obj.AcceleratorRequest) -> bool:
        return profile_rules.needs_programming(arq.device_profile_group)

    def run(
        self,
        context: RequestContext,
        arq: arq_obj.AcceleratorRequest,
        deployable: deployable_obj.Deployable,
    ) -> None:
        image = requested_image(self.conf, context, arq.device_profile_group)
        if image is None or deployable.bitstream_id == image:
            return
        LOG.info("Binding %s: programming image %s first", arq.uuid, image)
        programming.program_deployable(
            context, self.agent, deployable_uuid=deployable.uuid, image_uuid=image, for_bind=True
        )
