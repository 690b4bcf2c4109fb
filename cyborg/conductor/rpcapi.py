"""Client side of the conductor's RPC API: how the API process asks for every write."""

from collections.abc import Mapping, Sequence
from typing import Any

import oslo_messaging
from oslo_config import cfg

from cyborg.common import deadline, exception, rpc
from cyborg.common.context import RequestContext
from cyborg.conductor import call_recovery

# The default of [conductor] topic (upstream's; queues on RabbitMQ are named after it).
TOPIC = "cyborg-conductor"

# How much longer than [agent] program_timeout the API waits for the conductor (which
# itself waits 10 seconds longer for the agent: cyborg.agent.rpcapi.PROGRAM_MARGIN).
PROGRAM_MARGIN = 20

# Reconnections to try when the broker is down before a call gives up sending (None
# would block the caller for the whole outage, far past its deadline).
SEND_RETRIES = 2


class ConductorAPI:
    """Calls to cyborg-conductor on ``[conductor] topic`` (``cyborg-conductor``),
    exchange ``[DEFAULT] control_exchange`` (``cyborg``).

    Every method is a blocking ``call`` that returns uuids (or nothing); the caller
    re-reads what it needs through cyborg.objects. Errors arrive as the
    cyborg.common.exception class the conductor raised, with its ``.code``. Every
    call carries a deadline in its context (``call_id``, ``deadline``): the conductor
    neither starts nor commits it later (see doc/source/admin/broker-outages.rst).

    Version history:

    * 1.0 - create_device_profile, delete_device_profiles, create_arqs, bind_arqs,
      unbind_arqs, delete_arqs, create_attribute, delete_attribute, set_device_status.
    * 1.1 - report_inventory (agents).
    * 1.2 - program_deployable.
    * 1.3 - bind_arqs takes bindings without device_rp_uuid (the conductor claims the
      device in Placement); sent at 1.3 only when one is there.
    * 1.4 - create_graph, create_plans, report_measurement, claim_plan (the
      graph-aware scheduler, API microversion 2.5).
    * 1.5 - create_plans takes device_profile_name and constraints;
      report_measurement takes device_times_ms (each sent at 1.5 only when one of
      these is used); claim_plan may leave out device_profile_name (the plan's) and
      consumer_uuid (a new one), and claims the devices in Placement: always sent at
      1.5, since a 1.4 conductor's claim would not claim them.
    * 1.6 - claim_devices_for_pod, release_pod_claim, device_holders (devices handed
      to Kubernetes pods, from the agents' kubelet plugins).
    * 1.7 - claim_devices_for_pod takes partitions (MIG partitions, which several
      claims may hold of one GPU); sent at 1.7 only when there are some.
    * 1.8 - create_job, cancel_job (the cluster scheduler's queue, API microversion
      2.9).

    Rolling upgrades: a new method, or a new optional argument, bumps the minor
    version and its call here asks for that version. The conductor keeps every method
    and argument of the older minors of its major version, so the API of release N and
    of N+1 both work against an N+1 conductor: upgrade conductors first, then the API.
    To run a new API (or agent) against older conductors, cap what it sends with
    ``[upgrade_levels] conductor``: a request that needs more than the cap is refused
    with 409 before anything changes. A major bump (2.0) may drop old methods only
    after a release in which no caller uses them.
    """

    RPC_API_VERSION = "1.8"

    def __init__(
        self,
        conf: cfg.ConfigOpts,
        topic: str | None = None,
        *,
        recover_lost_replies: bool = False,
    ) -> None:
        """Call the conductors on ``topic``, by default ``[conductor] topic``.

        ``recover_lost_replies`` (the API, which reads the database): a call that
        timed out or could not be sent answers what its record says once its deadline
        has passed (cyborg.conductor.call_recovery), instead of raising.
        """
        topic = topic or conf.conductor.topic
        self._conf = conf
        self._client = rpc.get_client(
            conf, topic, self.RPC_API_VERSION, version_cap=conf.upgrade_levels.conductor
        )
        self._recovery = call_recovery.CallRecovery() if recover_lost_replies else None

    def _call(self, context: RequestContext, method: str, version: str, **kwargs: Any) -> Any:
        return self._call_waiting(None, context, method, version, kwargs)

    def _call_waiting(
        self,
        timeout: float | None,
        context: RequestContext,
        method: str,
        version: str,
        kwargs: dict[str, Any],
    ) -> Any:
        """Call ``method`` with a deadline ``[conductor] deadline_margin`` seconds before
        this caller stops waiting (``timeout``, by default rpc_response_timeout)."""
        self._require(version, method)
        timeout = float(timeout or self._conf.rpc_response_timeout)
        margin = float(min(self._conf.conductor.deadline_margin, timeout / 2))
        context.call_id = deadline.new_call_id()
        context.deadline = deadline.deadline_after(timeout, margin)
        client = self._client.prepare(version=version, timeout=timeout, retry=SEND_RETRIES)
        upgrade = "upgrade the conductors first ([upgrade_levels] conductor caps what is sent)"
        try:
            with rpc.older_peers_refuse(method, version, "cyborg-conductor", upgrade):
                return client.call(context, method, **kwargs)
        except exception.DeadlineExpired as err:
            # It arrived late, was refused, and the refusal still found us waiting.
            raise exception.ConductorUnavailable() from err
        except (oslo_messaging.MessagingTimeout, *rpc.SEND_FAILURES):
            if self._recovery is None:
                raise
            return self._recovery.answer(context, method, margin)

    def _require(self, version: str, what: str) -> None:
        """409 when ``[upgrade_levels] conductor`` caps below ``version``: the request is
        refused before anything is sent (an older conductor would not understand it)."""
        if not self._client.can_send_version(version):
            raise exception.Conflict(
                reason=f"{what} needs cyborg-conductor with RPC API {version}, and "
                f"[upgrade_levels] conductor is {self._conf.upgrade_levels.conductor}; "
                "upgrade the conductors first"
            )

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
        """Create a profile; returns its uuid. 409 DeviceProfileNameConflict if taken."""
        return str(
            self._call(
                context,
                "create_device_profile",
                "1.0",
                name=name,
                groups=groups,
                description=description,
                uuid=uuid,
                project_id=project_id,
            )
        )

    def delete_device_profiles(
        self,
        context: RequestContext,
        *,
        uuids: Sequence[str] | None = None,
        names: Sequence[str] | None = None,
        project_id: str | None = None,
    ) -> None:
        """Delete by uuids or by names (all or none); ``project_id``: only its own."""
        self._call(
            context,
            "delete_device_profiles",
            "1.0",
            uuids=None if uuids is None else list(uuids),
            names=None if names is None else list(names),
            project_id=project_id,
        )

    def create_arqs(
        self,
        context: RequestContext,
        *,
        device_profile_name: str,
        project_id: str | None,
        visible_to_project: str | None = None,
    ) -> list[str]:
        """One Initial ARQ per requested accelerator, owned by ``project_id``.

        The profile is looked up by name among those ``visible_to_project`` may see
        (its own and shared ones; every profile when None). Returns the ARQ uuids.
        """
        uuids = self._call(
            context,
            "create_arqs",
            "1.0",
            device_profile_name=device_profile_name,
            project_id=project_id,
            visible_to_project=visible_to_project,
        )
        return [str(uuid) for uuid in uuids]

    def bind_arqs(
        self,
        context: RequestContext,
        *,
        bindings: Mapping[str, Mapping[str, str]],
        project_id: str | None = None,
    ) -> None:
        """Bind ARQs: uuid -> {hostname, instance_uuid[, device_rp_uuid][, project_id]}.

        Without ``device_rp_uuid`` the conductor picks and claims the device in
        Placement (403 over quota, 409 when none is free). A binding's ``project_id``
        sets the ARQ's owner; the argument ``project_id`` limits the call to that
        project's ARQs (others are 404). 400 if an ARQ of the instance is already bound
        or binding. Every ARQ is tried; failed ones end in
        BindFailed and the first error is raised after all were tried.
        """
        self._call(
            context,
            "bind_arqs",
            "1.3" if any(not b.get("device_rp_uuid") for b in bindings.values()) else "1.0",
            bindings={uuid: dict(binding) for uuid, binding in bindings.items()},
            project_id=project_id,
        )

    def unbind_arqs(
        self, context: RequestContext, *, uuids: Sequence[str], project_id: str | None = None
    ) -> None:
        """Free the ARQs' attach handles and make them Unbound (all or none)."""
        self._call(context, "unbind_arqs", "1.0", uuids=list(uuids), project_id=project_id)

    def delete_arqs(
        self,
        context: RequestContext,
        *,
        uuids: Sequence[str] | None = None,
        instance_uuid: str | None = None,
        project_id: str | None = None,
    ) -> None:
        """Delete by uuids (all or none, 404 names the missing) or by instance (idempotent)."""
        self._call(
            context,
            "delete_arqs",
            "1.0",
            uuids=None if uuids is None else list(uuids),
            instance_uuid=instance_uuid,
            project_id=project_id,
        )

    def create_attribute(
        self, context: RequestContext, *, deployable_uuid: str, key: str, value: str
    ) -> str:
        """Add an attribute to a deployable; returns its uuid."""
        return str(
            self._call(
                context,
                "create_attribute",
                "1.0",
                deployable_uuid=deployable_uuid,
                key=key,
                value=value,
            )
        )

    def delete_attribute(self, context: RequestContext, *, uuid: str) -> None:
        self._call(context, "delete_attribute", "1.0", uuid=uuid)

    def set_device_status(self, context: RequestContext, *, uuid: str, status: str) -> None:
        """Set a device ``enabled`` or ``maintaining``."""
        self._call(context, "set_device_status", "1.0", uuid=uuid, status=status)

    def report_inventory(
        self,
        context: RequestContext,
        *,
        hostname: str,
        fingerprint: str,
        devices: list[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        """An agent's inventory (or only its fingerprint, when it believes it unchanged).

        Answers ``{"need_inventory": True}`` when the conductor wants the devices, else
        ``{"changed": bool, "fingerprint": <what is now stored, or None>}``.
        """
        return self._call(
            context,
            "report_inventory",
            "1.1",
            hostname=hostname,
            fingerprint=fingerprint,
            devices=devices,
        )

    def program_deployable(
        self, context: RequestContext, *, deployable_uuid: str, image_uuid: str
    ) -> None:
        """Program an FPGA deployable with a Glance image, through its host's agent.

        409 for a deployable that is not an FPGA or when the tool fails, 400 for an
        unknown image, 502 when Glance fails, 503 when the agent does not answer.
        Waits ``[agent] program_timeout`` plus PROGRAM_MARGIN seconds.
        """
        self._call_waiting(
            self._conf.agent.program_timeout + PROGRAM_MARGIN,
            context,
            "program_deployable",
            "1.2",
            {"deployable_uuid": deployable_uuid, "image_uuid": image_uuid},
        )

    def create_graph(
        self,
        context: RequestContext,
        *,
        name: str | None,
        document: Any = None,
        onnx_b64: str | None = None,
        project_id: str | None,
    ) -> str:
        """Analyse and store a graph (JSON graph format, or base64 ONNX); returns its
        uuid. 400 with the reason for a graph that cannot be read."""
        return str(
            self._call(
                context,
                "create_graph",
                "1.4",
                name=name,
                document=document,
                onnx_b64=onnx_b64,
                project_id=project_id,
            )
        )

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
        """Ranked plans of a graph on the free devices; returns their uuids, best first.
        409 when no device is schedulable or the graph fits none."""
        narrowed = {}
        if device_profile_name is not None or constraints is not None:
            narrowed = {"device_profile_name": device_profile_name, "constraints": constraints}
        uuids = self._call(
            context,
            "create_plans",
            "1.5" if narrowed else "1.4",
            graph_uuid=graph_uuid,
            objective=objective,
            max_devices=max_devices,
            count=count,
            project_id=project_id,
            **narrowed,
        )
        return [str(uuid) for uuid in uuids]

    def report_measurement(
        self,
        context: RequestContext,
        *,
        plan_uuid: str,
        step_time_ms: float,
        project_id: str | None,
        device_times_ms: dict[str, float] | None = None,
    ) -> None:
        """Learn from a measured step of a plan (updates the stored factors)."""
        per_device = {} if device_times_ms is None else {"device_times_ms": device_times_ms}
        self._call(
            context,
            "report_measurement",
            "1.5" if per_device else "1.4",
            plan_uuid=plan_uuid,
            step_time_ms=step_time_ms,
            project_id=project_id,
            **per_device,
        )

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
        """Bind the profile's ARQs to each device of the plan, claimed in Placement;
        returns the ARQs (the plan's consumer_uuid says for whom)."""
        uuids = self._call(
            context,
            "claim_plan",
            "1.5",
            plan_uuid=plan_uuid,
            device_profile_name=device_profile_name,
            consumer_uuid=consumer_uuid,
            project_id=project_id,
            visible_to_project=visible_to_project,
        )
        return [str(uuid) for uuid in uuids]

    def claim_devices_for_pod(
        self,
        context: RequestContext,
        *,
        hostname: str,
        claim_uid: str,
        namespace: str,
        name: str,
        pci_addresses: Sequence[str],
        partitions: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Give ``hostname``'s devices at ``pci_addresses`` and the MIG ``partitions``
        ({"pci_address": the GPU's, "profile": "1g.10gb", "start": 3}) to ResourceClaim
        ``claim_uid`` (``namespace``/``name``), in the database and in Placement, all
        or none. Other claims may hold other partitions of the same GPUs.

        404 PodDeviceNotFound for an address the host has no PCI device at; 409
        DeviceHeldByInstance / DeviceHeldByPod for one a VM or another claim holds
        (MigPartitionHeldByPod: that very partition), NoFreeAccelerator when Placement
        has no free unit left. Claiming the same devices for the same uid again
        succeeds (a kubelet retry).
        """
        kwargs: dict[str, Any] = {
            "hostname": hostname,
            "claim_uid": claim_uid,
            "namespace": namespace,
            "name": name,
            "pci_addresses": list(pci_addresses),
        }
        if partitions:
            kwargs["partitions"] = [dict(p) for p in partitions]
        self._call(context, "claim_devices_for_pod", "1.7" if partitions else "1.6", **kwargs)

    def release_pod_claim(self, context: RequestContext, *, hostname: str, claim_uid: str) -> None:
        """Give back what ``claim_uid`` holds on ``hostname`` (an unknown claim: nothing)."""
        self._call(context, "release_pod_claim", "1.6", hostname=hostname, claim_uid=claim_uid)

    def device_holders(self, context: RequestContext, *, hostname: str) -> dict[str, str]:
        """{deployable name: "instance" or "pod"} for ``hostname``'s held deployables."""
        held = self._call(context, "device_holders", "1.6", hostname=hostname)
        return {str(name): str(holder) for name, holder in dict(held).items()}

    def create_job(
        self,
        context: RequestContext,
        *,
        job: Mapping[str, Any],
        visible_to_project: str | None,
    ) -> str:
        """Queue a job (the fields of cyborg.objects.job.NewJob); returns its uuid. 404
        for a graph the caller cannot see, 403 over the project's queued-job limit."""
        return str(
            self._call(
                context, "create_job", "1.8", job=dict(job), visible_to_project=visible_to_project
            )
        )

    def cancel_job(self, context: RequestContext, *, uuid: str, project_id: str | None) -> None:
        """Cancel a queued or allocated job (404 unseen; 409 in any other state)."""
        self._call(context, "cancel_job", "1.8", uuid=uuid, project_id=project_id)
