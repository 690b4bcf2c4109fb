"""Server side of the conductor's RPC API: one thin method per call, each handing off
to its flow module. See cyborg.conductor.rpcapi for the version history."""

import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from typing import Any, ParamSpec, TypeVar

import oslo_messaging
from oslo_config import cfg

from cyborg.agent import rpcapi as agent_rpcapi
from cyborg.common import exception
from cyborg.common.context import RequestContext
from cyborg.conductor import serving
from cyborg.conductor.binding import binder, device_profiles, fpga_step, nova_events
from cyborg.conductor.inventory import operator_changes, programming, reports
from cyborg.conductor.jobs import queue as job_queue
from cyborg.conductor.placement import provider_sync
from cyborg.conductor.plans import plan_claim, planning
from cyborg.conductor.pods import claims as pod_claims
from cyborg.conductor.pods import partitions as pod_partitions
from cyborg.conductor.pods import placement_units
from cyborg.objects import job as job_obj

P = ParamSpec("P")
R = TypeVar("R")


def _answers(func: Callable[P, R]) -> Callable[P, R]:
    """Our exceptions are answers (404, 409, ...), not faults: the RPC server logs them
    at debug level instead of with a traceback, and still sends them to the caller.

    Every call is served within its caller's deadline (cyborg.conductor.serving).
    """

    @functools.wraps(func)
    def within_deadline(*args: P.args, **kwargs: P.kwargs) -> R:
        context = args[1] if len(args) > 1 else None  # (self, context, ...)
        if not isinstance(context, RequestContext):
            return func(*args, **kwargs)
        return serving.serve(context, func.__name__, lambda: func(*args, **kwargs))

    expected = oslo_messaging.expected_exceptions(exception.CyborgException)(within_deadline)
    return functools.wraps(func)(expected)


class ConductorManager:
    """The endpoint of cyborg-conductor's RPC server.

    Keeps every method of older minor versions of its major version (rolling upgrade).
    """

    target = oslo_messaging.Target(version="1.8")

    def __init__(
        self,
        conf: cfg.ConfigOpts | None = None,
        *,
        agent: agent_rpcapi.AgentAPI | None = None,
        tell_nova: bool = False,
        conductor: str | None = None,
        batch_liveness: bool = False,
    ) -> None:
        """``agent``: the agents' RPC API (FPGA programming and vGPU mdevs during binds;
        without it binds do neither); ``tell_nova``: write Nova's events for the
        periodic task to deliver (when ``[nova]`` is configured); ``conductor``: the
        uuid this conductor's heartbeat is written under, recorded by its binds;
        ``batch_liveness``: unchanged hosts' liveness is kept in ``seen`` for the
        periodic task to write (no write per report)."""
        self.conf = conf or cfg.CONF
        self._agent = agent  # made on first use by program_deployable when None
        # Binds that wait on an agent finish here, after bind_arqs has answered.
        self._bind_pool = futures.ThreadPoolExecutor(4, thread_name_prefix="bind")
        self.nova = nova_events.NovaEvents.from_conf(self.conf) if tell_nova else None
        # None when Placement is not configured.
        self.placement = provider_sync.PlacementSync.from_conf(self.conf)
        self.seen = reports.SeenHosts() if batch_liveness else None
        self.binder = binder.Binder.for_conductor(
            self.conf,
            placement=None if self.placement is None else self.placement.client,
            agent=agent,
            run_later=self._bind_pool.submit,
            nova=self.nova,
            conductor=conductor,
        )
        self.pods = pod_claims.PodClaims(
            None
            if self.placement is None
            else placement_units.PodUnits(
                self.placement.client, project_id=self.conf.kubernetes.pod_project_id
            )
        )

    def stop_background(self, timeout: float) -> bool:
        """Take no more background binds and wait up to ``timeout`` seconds for those
        running; whether they all finished (those not started stay BindStarted)."""
        self._bind_pool.shutdown(wait=False, cancel_futures=True)
        worker = threading.Thread(target=self._bind_pool.shutdown, daemon=True)
        worker.start()
        worker.join(max(0.0, timeout))
        return not worker.is_alive()

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
        return self.binder.create(
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
        self.binder.bind(context, bindings=bindings, project_id=project_id)

    @_answers
    def unbind_arqs(
        self, context: RequestContext, *, uuids: Sequence[str], project_id: str | None = None
    ) -> None:
        self.binder.unbind(context, uuids=uuids, project_id=project_id)

    @_answers
    def delete_arqs(
        self,
        context: RequestContext,
        *,
        uuids: Sequence[str] | None = None,
        instance_uuid: str | None = None,
        project_id: str | None = None,
    ) -> None:
        self.binder.delete(
            context, uuids=uuids, instance_uuid=instance_uuid, project_id=project_id
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
            self.conf, context, hostname, fingerprint, devices, self.placement, self.seen
        )

    @_answers
    def program_deployable(
        self, context: RequestContext, *, deployable_uuid: str, image_uuid: str
    ) -> None:
        if self._agent is None:
            self._agent = agent_rpcapi.AgentAPI(self.conf)
        serving.accept(context)  # before the agent programs anything
        programming.program_deployable(
            context,
            self._agent,
            deployable_uuid=deployable_uuid,
            image_uuid=image_uuid,
            placement=None if self.placement is None else self.placement.client,
            function=lambda: fpga_step.image_function(self.conf, context, {}, image_uuid),
        )

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
        conf = self.conf
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
            free_providers=None
            if self.placement is None
            else planning.free_in_placement(self.placement.client),
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
        _, arqs = plan_claim.claim_plan(
            self.binder,
            context,
            plan_uuid=plan_uuid,
            device_profile_name=device_profile_name,
            consumer_uuid=consumer_uuid,
            project_id=project_id,
            visible_to_project=visible_to_project,
        )
        return arqs

    @_answers
    def claim_devices_for_pod(
        self,
        context: RequestContext,
        *,
        hostname: str,
        claim_uid: str,
        namespace: str,
        name: str,
        pci_addresses: Sequence[str],
        partitions: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        self.pods.claim(
            context,
            hostname=hostname,
            claim=pod_claims.claim_ref(claim_uid, namespace, name),
            pci_addresses=list(pci_addresses),
            partitions=pod_partitions.partitions_from(partitions),
        )

    @_answers
    def release_pod_claim(self, context: RequestContext, *, hostname: str, claim_uid: str) -> None:
        self.pods.release(context, hostname=hostname, claim_uid=pod_claims.checked_uid(claim_uid))

    @_answers
    def device_holders(self, context: RequestContext, *, hostname: str) -> dict[str, str]:
        return self.pods.holders(context, hostname)

    @_answers
    def create_job(
        self,
        context: RequestContext,
        *,
        job: Mapping[str, Any],
        visible_to_project: str | None,
    ) -> str:
        return job_queue.create_job(
            context,
            job_obj.NewJob(**job),
            queued_limit=self.conf.quota.queued_jobs,
            visible_to_project=visible_to_project,
        )

    @_answers
    def cancel_job(self, context: RequestContext, *, uuid: str, project_id: str | None) -> None:
        job_queue.cancel_job(context, uuid, project_id=project_id)
