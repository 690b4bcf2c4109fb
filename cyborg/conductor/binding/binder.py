"""The Binder: the doors into the binding wing, holding what every bind needs.

``ConductorManager`` builds one; its RPC methods, the periodic task and plan claims
all go through it. The collaborators it holds, each optional:

* ``claimer``: claims devices in Placement for binds without Nova (None when
  Placement is not configured: such binds are refused with a 503);
* ``limits``: the quota of those binds, looked up per request context;
* ``arq_limits``: how many ARQs one request may create and one project hold (None:
  no limit);
* ``programming``: the FPGA programming step a bind may need first;
* ``mdevs``: the agent calls that create and remove vGPU mdevs and SPDK targets;
* ``run_later``: runs the binds that wait on an agent, after ``bind`` has answered;
* ``nova``: where the results Nova waits for are delivered from; None: Nova is not
  told (no Nova configured, or a conductor that runs no periodic task);
* ``conductor``: the uuid of this conductor's run (cyborg.conductor.liveness), which
  its binds record so that another conductor takes them over if it stops; None: its
  binds record none (a conductor without a heartbeat), and only the bind timeout
  takes them over.
"""

import datetime
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from oslo_config import cfg

from cyborg.agent import rpcapi as agent_rpcapi
from cyborg.clients import placement as placement_client
from cyborg.common.context import RequestContext
from cyborg.conductor.binding import (
    arqs,
    bind_flow,
    fpga_step,
    quota,
    takeover,
    unbinding,
    vgpu,
)
from cyborg.conductor.placement import claiming
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import deployable as deployable_obj

Bindings = Mapping[str, Mapping[str, str]]
RunLater = Callable[[Callable[[], None]], object]


class BindStep(Protocol):
    """Agent work a bind needs before its handle is claimed (FPGA programming)."""

    def needed(self, arq: arq_obj.AcceleratorRequest) -> bool: ...

    def run(
        self,
        context: RequestContext,
        arq: arq_obj.AcceleratorRequest,
        deployable: deployable_obj.Deployable,
    ) -> None: ...


class NovaOutbox(Protocol):
    """Delivers the events binds leave for Nova (cyborg.conductor.binding.nova_events)."""

    def ring(self) -> None:
        """Deliver now rather than at the next poll."""


class Binder:
    def __init__(
        self,
        *,
        claimer: claiming.Claimer | None = None,
        limits: quota.LimitsFor | None = None,
        arq_limits: arqs.ARQLimits | None = None,
        programming: BindStep | None = None,
        mdevs: vgpu.MdevAgent | None = None,
        run_later: RunLater | None = None,
        nova: NovaOutbox | None = None,
        conductor: str | None = None,
    ) -> None:
        self.claimer = claimer
        self.limits = limits
        self.arq_limits = arq_limits
        self.programming = programming
        self.mdevs = mdevs
        self.run_later = run_later
        self.nova = nova
        self.conductor = conductor

    @classmethod
    def for_conductor(
        cls,
        conf: cfg.ConfigOpts,
        *,
        placement: placement_client.PlacementClient | None,
        agent: agent_rpcapi.AgentAPI | None,
        run_later: RunLater | None,
        nova: NovaOutbox | None,
        conductor: str | None = None,
    ) -> "Binder":
        """A conductor's binder: claims through ``placement`` (None: standalone binds
        are refused), quota from ``conf``, FPGA programming and vGPU mdevs through
        ``agent`` (None: binds need neither)."""
        return cls(
            claimer=None if placement is None else claiming.Claimer(placement),
            limits=quota.configured(conf),
            arq_limits=arqs.ARQLimits.from_conf(conf),
            programming=(
                None if agent is None else fpga_step.FPGAProgrammingStep(conf, agent, placement)
            ),
            mdevs=None if agent is None else vgpu.MdevAgent(agent),
            run_later=run_later,
            nova=nova,
            conductor=conductor,
        )

    @property
    def notifies_nova(self) -> bool:
        return self.nova is not None

    def _ring_nova(self) -> None:
        if self.nova is not None:
            self.nova.ring()

    # -- the doors --------------------------------------------------------------------

    def create(
        self,
        context: RequestContext,
        *,
        device_profile_name: str,
        project_id: str | None,
        visible_to_project: str | None = None,
    ) -> list[str]:
        """One Initial ARQ per accelerator the profile asks for, within
        ``arq_limits``; their uuids."""
        return arqs.create_arqs(
            context,
            device_profile_name=device_profile_name,
            project_id=project_id,
            visible_to_project=visible_to_project,
            limits=self.arq_limits,
        )

    def bind(
        self,
        context: RequestContext,
        *,
        bindings: Bindings,
        project_id: str | None = None,
        pins: Mapping[str, str] | None = None,
    ) -> None:
        """Bind each ARQ (cyborg.conductor.binding.bind_flow); ``pins`` names the
        provider a standalone bind must take (ARQ uuid -> provider uuid)."""
        try:
            bind_flow.bind_arqs(self, context, bindings=bindings, project_id=project_id, pins=pins)
        finally:
            self._ring_nova()

    def unbind(
        self, context: RequestContext, *, uuids: Sequence[str], project_id: str | None = None
    ) -> None:
        unbinding.unbind_arqs(self, context, uuids=uuids, project_id=project_id)

    def delete(
        self,
        context: RequestContext,
        *,
        uuids: Sequence[str] | None = None,
        instance_uuid: str | None = None,
        project_id: str | None = None,
    ) -> None:
        unbinding.delete_arqs(
            self, context, uuids=uuids, instance_uuid=instance_uuid, project_id=project_id
        )

    def take_over_abandoned(
        self, context: RequestContext, dead_after: datetime.timedelta
    ) -> list[str]:
        """Take over and finish the binds of conductors silent for ``dead_after`` or
        stopped; the uuids this conductor took."""
        try:
            return takeover.take_over_from_dead(self, context, dead_after)
        finally:
            self._ring_nova()

    def resume_abandoned(
        self, context: RequestContext, older_than: datetime.timedelta
    ) -> list[str]:
        """Take over and finish binds left BindStarted, unchanged, for ``older_than``
        whoever was binding them; the uuids this conductor took."""
        try:
            return takeover.take_over_timed_out(self, context, older_than)
        finally:
            self._ring_nova()

    def finish_abandoned_deletes(
        self, context: RequestContext, older_than: datetime.timedelta
    ) -> list[str]:
        return unbinding.finish_abandoned_deletes(self, context, older_than)

    def remove_abandoned_mdevs(
        self, context: RequestContext, grace: datetime.timedelta | None = None
    ) -> list[str]:
        """Retry the removal of mdevs an agent did not answer for; the handles tried."""
        if self.mdevs is None:
            return []
        return vgpu.remove_abandoned(context, self.mdevs, grace)
