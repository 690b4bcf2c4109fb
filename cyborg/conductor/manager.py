"""Server side of the conductor's RPC API: one thin method per call, each handing off
to its flow module. See cyborg.conductor.rpcapi for the version history."""

import functools
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from typing import Any, ParamSpec, TypeVar

import oslo_messaging
from oslo_config import cfg

from cyborg.agent import rpcapi as agent_rpcapi
from cyborg.common import exception
from cyborg.common.context import RequestContext
from cyborg.conductor.binding import bind_flow, device_profiles, quota, unbinding, vgpu
from cyborg.conductor.inventory import operator_changes, programming, reports
from cyborg.conductor.placement import claiming, provider_sync
from cyborg.conductor.plans import candidate_devices, device_scope, plan_claim, planning

P = ParamSpec("P")
R = TypeVar("R")


def _answers(func: Callable[P, R]) -> Callable[P, R]:
    """Our exceptions are answers (404, 409, ...), not faults: the RPC server logs them
    at debug level instead of with a traceback, and still sends them to the caller."""
    expected = oslo_messaging.expected_exceptions(exception.CyborgException)(func)
    return functools.wraps(func)(expected)


class ConductorManager:
    """The endpoint of cyborg-conductor's RPC server.

    Keeps every method of older minor versions of its major version (rolling upgrade).
    """

    target = oslo_messaging.Target(version="1.5")

    def __init__(
        self,
        conf: cfg.ConfigOpts | None = None,
        tasks: Any = None,
        bind_step: bind_flow.BindStep | None = None,
        mdevs: vgpu.MdevAgent | None = None,
    ) -> None:
        # For the Placement and Nova clients that later flows need.
        self.conf = conf
        self.tasks = tasks  # cyborg.conductor.periodic.PeriodicTasks: Nova's events
        self.bind_step = bind_step  # FPGA programming during binds
        self.mdevs = mdevs  # vGPU mdevs created and removed by the agents
        # Binds that program an FPGA finish here, after bind_arqs has answered.
        self._bind_pool = futures.ThreadPoolExecutor(4, thread_name_prefix="bind")
        self._agent: agent_rpcapi.AgentAPI | None = None  # made on first use
        self._placement: provider_sync.PlacementSync | None = None
        self._placement_loaded = False

    @property
    def placement(self) -> provider_sync.PlacementSync | None:
        """The Placement sync, built on first use; None when Placement is not configured."""
        if not self._placement_loaded:
            self._placement = provider_sync.PlacementSync.from_conf(self.conf or cfg.CONF)
            self._placement_loaded = True
        return self._placement

    @property
    def claimer(self) -> claiming.Claimer | None:
        """Claims devices for binds without Nova; None when Placement is not configured."""
        return None if self.placement is None else claiming.Claimer(self.placement.client)

    @_answers
    def create_device_profile(
        self,
        context: RequestContext,
        *,
        name: str,
        groups: list[dict[str, str]],
        description: str | None = None,
        uuid: str | None = None,
        project_id: str | None = None,
    ) -> str:
        return device_profiles.create_device_profile(
            context,
            name=name,
            groups=groups,
            description=description,
            uuid=uuid,
            project_id=project_id,
        )

    @_answers
    def delete_device_profiles(
        self,
        context: RequestContext,
        *,
        uuids: Sequence[str] | None = None,
        names: Sequence[str] | None = None,
        project_id: str | None = None,
    ) -> None:
        device_profiles.delete_device_profiles(
            context, uuids=uuids, names=names, project_id=project_id
        )

    @_answers
    def create_arqs(
        self,
        context: RequestContext,
        *,
        device_profile_name: str,
        project_id: str | None,
        visible_to_project: str | None = None,
    ) -> list[str]:
        return bind_flow.create_arqs(
            context,
            device_profile_name=device_profile_name,
            project_id=project_id,
            visible_to_project=visible_to_project,
        )

    @_answers
    def bind_arqs(
        self,
        context: RequestContext,
        *,
        bindings: Mapping[str, Mapping[str, str]],
        project_id: str | None = None,
    ) -> None:
        notify_nova = self.tasks is not None and self.tasks.notifies_nova
        try:
            bind_flow.bind_arqs(
                context,
                bindings=bindings,
                project_id=project_id,
                notify_nova=notify_nova,
                step=self.bind_step,
                run_later=self._run_later,
                claimer=self.claimer,
                limits=quota.limits_from_conf(self.conf or cfg.CONF, context),
                mdevs=self.mdevs,
            )
        finally:
            self._wake_tasks()

    def _run_later(self, finish: Callable[[], None]) -> None:
        future = self._bind_pool.submit(finish)
        future.add_done_callback(lambda _: self._wake_tasks())  # its failure is logged

    def _wake_tasks(self) -> None:
        if self.tasks is not None:
            self.tasks.wake()

    @_answers
    def unbind_arqs(
        self, context: RequestContext, *, uuids: Sequence[str], project_id: str | None = None
    ) -> None:
        unbinding.unbind_arqs(
            context, uuids=uuids, project_id=project_id, claimer=self.claimer, mdevs=self.mdevs
        )

    @_answers
    def delete_arqs(
        self,
        context: RequestContext,
        *,
        uuids: Sequence[str] | None = None,
        instance_uuid: str | None = None,
        project_id: str | None = None,
    ) -> None:
        unbinding.delete_arqs(
            context,
            uuids=uuids,
            instance_uuid=instance_uuid,
            project_id=project_id,
            claimer=self.claimer,
            mdevs=self.mdevs,
        )

    @_answers
    def create_attribute(
        self, context: RequestContext, *, deployable_uuid: str, key: str, value: str
    ) -> str:
        return operator_changes.create_attribute(
            context, deployable_uuid=deployable_uuid, key=key, value=value
        )

    @_answers
    def delete_attribute(self, context: RequestContext, *, uuid: str) -> None:
        operator_changes.delete_attribute(context, uuid=uuid)

    @_answers
    def set_device_status(self, context: RequestContext, *, uuid: str, status: str) -> None:
        operator_changes.set_device_status(
            context, uuid=uuid, status=status, placement=self.placement
        )

    @_answers
    def report_inventory(
        self,
        context: RequestContext,
        *,
        hostname: str,
        fingerprint: str,
        devices: list[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        return reports.report_inventory(
            self.conf or cfg.CONF, context, hostname, fingerprint, devices, self.placement
        )

    @_answers
    def program_deployable(
        self, context: RequestContext, *, deployable_uuid: str, image_uuid: str
    ) -> None:
        if self._agent is None:
            self._agent = agent_rpcapi.AgentAPI(self.conf or cfg.CONF)
        programming.program_deployable(
            context, self._agent, deployable_uuid=deployable_uuid, image_uuid=image_uuid
        )

    def _free_providers(self, queries: list[device_scope.Query]) -> set[str]:
        """Providers Placement's allocation candidates offer for any of the queries."""
        assert self.placement is not None
        free: set[str] = set()
        for query in queries:
            body = self.placement.client.get_allocation_candidates(query)
            free |= candidate_devices.free_providers(body)
        return free

    @_answers
    def create_graph(
        self,
        context: RequestContext,
        *,
        name: str | None,
        document: Any = None,
        onnx_b64: str | None = None,
        project_id: str | None,
    ) -> str:
        return planning.create_graph(
            context, name=name, document=document, onnx_b64=onnx_b64, project_id=project_id
        )

    @_answers
    def create_plans(
        self,
        context: RequestContext,
        *,
        graph_uuid: str,
        objective: str,
        max_devices: int | None,
        count: int,
        project_id: str | None,
        device_profile_name: str | None = None,
        constraints: dict[str, Any] | None = None,
    ) -> list[str]:
        conf = self.conf or cfg.CONF
        return planning.create_plans(
            context,
            graph_uuid=graph_uuid,
            objective=objective,
            max_devices=max_devices,
            count=count,
            project_id=project_id,
            driver=conf.scheduler.driver,
            effort=conf.scheduler.effort,
            device_profile_name=device_profile_name,
            constraints=constraints,
            free_providers=None if self.placement is None else self._free_providers,
        )

    @_answers
    def report_measurement(
        self,
        context: RequestContext,
        *,
        plan_uuid: str,
        step_time_ms: float,
        project_id: str | None,
        device_times_ms: dict[str, float] | None = None,
    ) -> None:
        planning.report_measurement(
            context,
            plan_uuid=plan_uuid,
            step_time_ms=step_time_ms,
            project_id=project_id,
            device_times_ms=device_times_ms,
        )

    @_answers
    def claim_plan(
        self,
        context: RequestContext,
        *,
        plan_uuid: str,
        device_profile_name: str | None,
        consumer_uuid: str | None,
        project_id: str | None,
        visible_to_project: str | None,
    ) -> list[str]:
        """The ARQs bound; the plan's consumer_uuid says to whom."""
        if self.claimer is None:
            raise exception.PlacementNotConfigured(
                "Claiming a plan claims its devices in Placement: set [placement] "
                "auth_type and its options on the conductor."
            )

        def bind(context: RequestContext, **kwargs: Any) -> None:
            # Standalone binds (no Nova events: the consumer is not a Nova instance).
            bind_flow.bind_arqs(
                context,
                step=self.bind_step,
                run_later=self._run_later,
                mdevs=self.mdevs,
                claimer=self.claimer,
                limits=quota.limits_from_conf(self.conf or cfg.CONF, context),
                **kwargs,
            )

        def delete(context: RequestContext, *, uuids: list[str]) -> None:
            unbinding.delete_arqs(context, uuids=uuids, claimer=self.claimer, mdevs=self.mdevs)

        _, arqs = plan_claim.claim_plan(
            context,
            plan_uuid=plan_uuid,
            device_profile_name=device_profile_name,
            consumer_uuid=consumer_uuid,
            project_id=project_id,
            visible_to_project=visible_to_project,
            arqs=plan_claim.ARQCalls(bind_flow.create_arqs, bind, delete),
        )
        return arqs
