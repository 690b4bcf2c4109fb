"""The gRPC services one DRA plugin serves: DRAPlugin (v1, and v1beta1 on the same
messages), DRAResourceHealth (v1alpha1) and the plugin registration service (v1).

A kubelet 1.34+ picks ``v1.DRAPlugin`` from the registration's supported versions;
one of 1.32 or 1.33 knows only ``v1beta1.DRAPlugin``, whose messages are the same on
the wire, so the v1 handlers are served under the v1beta1 service name too. No call
raises out of NodePrepareResources or NodeUnprepareResources: a claim that fails gets
its ``error``, the others their answer.
"""

import threading
from collections.abc import Iterator
from typing import Any

import grpc
from oslo_log import log

from cyborg.kubernetes.dra import driver_devices
from cyborg.kubernetes.dra.checkpoint import PreparedClaim
from cyborg.kubernetes.dra.driver_devices import DriverDevices
from cyborg.kubernetes.dra.ownership import ClaimRef
from cyborg.kubernetes.dra.preparer import PrepareFailed, Preparer
from cyborg.kubernetes.stubs import (
    dra,
    dra_grpc,
    dra_health,
    dra_health_grpc,
    registration,
    registration_grpc,
)

LOG = log.getLogger(__name__)

PLUGIN_TYPE = "DRAPlugin"
#: The registration names of the DRAPlugin services (the kubelet's DRAPluginService).
SUPPORTED_SERVICES = ("v1.DRAPlugin", "v1beta1.DRAPlugin")
V1BETA1_SERVICE = "k8s.io.kubelet.pkg.apis.dra.v1beta1.DRAPlugin"
_STREAM_TICK = 0.5  # how often an idle health stream checks its client is still there
_HEALTH = {
    driver_devices.HEALTHY: dra_health.HEALTHY,
    driver_devices.UNHEALTHY: dra_health.UNHEALTHY,
    driver_devices.UNKNOWN: dra_health.UNKNOWN,
}


def _devices(prepared: PreparedClaim) -> list[Any]:
    return [
        dra.Device(
            request_names=list(d.request_names),
            pool_name=d.pool_name,
            device_name=d.device_name,
            cdi_device_ids=list(d.cdi_device_ids),
        )
        for d in prepared.devices
    ]


class DRAServicer(dra_grpc.DRAPluginServicer):
    def __init__(self, driver: str, preparer: Preparer) -> None:
        self.driver = driver
        self.preparer = preparer

    def NodePrepareResources(self, request: Any, context: Any) -> Any:
        answers = {}
        for claim in request.claims:
            try:
                if not claim.uid:
                    raise PrepareFailed(f"claim {claim.namespace}/{claim.name} has no uid")
                prepared = self.preparer.prepare(ClaimRef(claim.namespace, claim.name, claim.uid))
                answers[claim.uid] = dra.NodePrepareResourceResponse(devices=_devices(prepared))
            except PrepareFailed as err:
                LOG.warning("%s: claim %s/%s not prepared: %s", self.driver, claim.namespace,
                            claim.name, err)  # fmt: skip
                answers[claim.uid] = dra.NodePrepareResourceResponse(error=str(err))
            except Exception as err:  # a bug must fail one claim, not the kubelet's call
                LOG.exception("%s: preparing claim %s failed", self.driver, claim.uid)
                answers[claim.uid] = dra.NodePrepareResourceResponse(error=f"internal error: "
                                                                     f"{err!r}")  # fmt: skip
        return dra.NodePrepareResourcesResponse(claims=answers)

    def NodeUnprepareResources(self, request: Any, context: Any) -> Any:
        answers = {}
        for claim in request.claims:
            try:
                self.preparer.unprepare(claim.uid)
                LOG.info("%s: unprepared claim %s/%s (%s)", self.driver, claim.namespace,
                         claim.name, claim.uid)  # fmt: skip
                answers[claim.uid] = dra.NodeUnprepareResourceResponse()
            except PrepareFailed as err:
                answers[claim.uid] = dra.NodeUnprepareResourceResponse(error=str(err))
            except Exception as err:
                LOG.exception("%s: unpreparing claim %s failed", self.driver, claim.uid)
                answers[claim.uid] = dra.NodeUnprepareResourceResponse(error=f"internal error: "
                                                                       f"{err!r}")  # fmt: skip
        return dra.NodeUnprepareResourcesResponse(claims=answers)


def v1beta1_handler(servicer: DRAServicer) -> grpc.GenericRpcHandler:
    """The v1 handlers under the v1beta1 service name (same messages, same fields)."""
    methods = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name),
            request_deserializer=request.FromString,
            response_serializer=response.SerializeToString,
        )
        for name, request, response in (
            ("NodePrepareResources", dra.NodePrepareResourcesRequest,
             dra.NodePrepareResourcesResponse),
            ("NodeUnprepareResources", dra.NodeUnprepareResourcesRequest,
             dra.NodeUnprepareResourcesResponse),
        )
    }  # fmt: skip
    return grpc.method_handlers_generic_handler(V1BETA1_SERVICE, methods)


class HealthServicer(dra_health_grpc.DRAResourceHealthServicer):
    """Streams every device's health: at once, then whenever one changes."""

    def __init__(self, pool: str, devices: DriverDevices) -> None:
        self.pool = pool
        self.devices = devices
        self.stopping = threading.Event()

    def _message(self, health: dict[str, driver_devices.Health]) -> Any:
        return dra_health.NodeWatchResourcesResponse(
            devices=[
                dra_health.DeviceHealth(
                    device=dra_health.DeviceIdentifier(pool_name=self.pool, device_name=name),
                    health=_HEALTH[h.status],
                    last_updated_time=h.since,
                )
                for name, h in sorted(health.items())
            ]
        )

    def NodeWatchResources(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        sent = -1
        state = self.devices
        while context.is_active() and not self.stopping.is_set():
            with state.changed:
                state.changed.wait_for(
                    lambda seen=sent: state.version != seen or self.stopping.is_set(),  # type: ignore[misc]
                    _STREAM_TICK,
                )
            version, health = state.health()
            if version == sent or self.stopping.is_set():
                continue
            sent = version
            yield self._message(health)


class RegistrationServicer(registration_grpc.RegistrationServicer):
    """What the kubelet's plugin watcher asks on ``<driver>-reg.sock``."""

    def __init__(self, driver: str, endpoint: str) -> None:
        self.driver = driver
        self.endpoint = endpoint
        self.registered = threading.Event()  # the kubelet said it registered us

    def GetInfo(self, request: Any, context: Any) -> Any:
        return registration.PluginInfo(
            type=PLUGIN_TYPE,
            name=self.driver,
            endpoint=self.endpoint,
            supported_versions=list(SUPPORTED_SERVICES),
        )

    def NotifyRegistrationStatus(self, request: Any, context: Any) -> Any:
        if request.plugin_registered:
            LOG.info("%s: registered with the kubelet", self.driver)
            self.registered.set()
        else:
            LOG.error("%s: the kubelet refused the registration: %s", self.driver,
                      request.error or "(no reason given)")  # fmt: skip
            self.registered.clear()
        return registration.RegistrationStatusResponse()
