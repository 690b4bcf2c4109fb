"""FPGA programming as a step of binding an ARQ (device profile ``accel:*`` keys).

A group with ``accel:bitstream_id=<image>`` asks for that Glance image on the FPGA;
one with ``accel:function_id=<id>`` for the one active image whose
``accel:function_id`` property is ``<id>``. Both at once is refused. When the
deployable already holds the image, nothing is programmed. Once programmed, the
deployable's function traits move to the image's function at once, in the database
and Placement (cyborg.conductor.inventory.function_traits): the requested
``accel:function_id``, or the bitstream image's ``accel:function_id`` property. When
Glance cannot say, they are left to the agent's next report.
"""

from collections.abc import Mapping

from oslo_config import cfg
from oslo_log import log

from cyborg.agent import rpcapi as agent_rpcapi
from cyborg.clients import glance
from cyborg.clients import placement as placement_client
from cyborg.common import exception, profile_rules
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


def image_function(
    conf: cfg.ConfigOpts, context: RequestContext, group: Mapping[str, str], image: str
) -> programming.FunctionChange | None:
    """The function ``image`` loads, for its trait; None when Glance cannot say."""
    if profile_rules.FUNCTION_KEY in group:
        return programming.FunctionChange(group[profile_rules.FUNCTION_KEY])
    try:
        return programming.FunctionChange(
            glance.image_function_id(glance.adapter(conf, context), image)
        )
    except exception.CyborgException as err:
        LOG.warning(
            "Function of image %s unknown (%s): the agent's next report sets the function traits",
            image,
            err.message,
        )
        return None


class FPGAProgrammingStep:
    """The bind step that programs the FPGA (a binder.BindStep)."""

    def __init__(
        self,
        conf: cfg.ConfigOpts,
        agent: agent_rpcapi.AgentAPI,
        placement: placement_client.PlacementClient | None = None,
    ) -> None:
        self.conf = conf
        self.agent = agent
        self.placement = placement

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
        group = arq.device_profile_group
        LOG.info("Binding %s: programming image %s first", arq.uuid, image)
        programming.program_deployable(
            context,
            self.agent,
            deployable_uuid=deployable.uuid,
            image_uuid=image,
            for_bind=True,
            placement=self.placement,
            function=lambda: image_function(self.conf, context, group, image),
        )
