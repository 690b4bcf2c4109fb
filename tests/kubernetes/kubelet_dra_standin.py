"""A kubelet stand-in for DRA: the plugin watcher and the DRA manager's side of the APIs.

Over real unix sockets and real gRPC, as the kubelet (1.34+) does: it watches the
plugins registry directory for new sockets (the kubelet uses inotify; this looks
every few milliseconds), asks each new one GetInfo, refuses what the kubelet refuses
(another plugin type, no driver name, an endpoint that is not an absolute path, no
DRAPlugin service it speaks), says so with NotifyRegistrationStatus, and then dials
the endpoint: it keeps a NodeWatchResources stream open, recording every message,
and calls NodePrepareResources and NodeUnprepareResources when a test asks. A socket
that goes away deregisters its plugin. ``services`` is what this kubelet speaks, in
its order of preference: ``("v1beta1.DRAPlugin",)`` stands in for a 1.32 or 1.33
kubelet.
"""

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from cyborg.kubernetes.stubs import (
    dra,
    dra_health,
    dra_health_grpc,
    registration,
    registration_grpc,
)
from tests.kubernetes import waiting
from tests.kubernetes.waiting import DEADLINE

_LOOK = 0.02  # seconds between two looks at the registry directory
_METHODS = {
    "v1.DRAPlugin": "/k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin/",
    "v1beta1.DRAPlugin": "/k8s.io.kubelet.pkg.apis.dra.v1beta1.DRAPlugin/",
}
_HEALTH_NAMES = {dra_health.HEALTHY: "Healthy", dra_health.UNHEALTHY: "Unhealthy",
                 dra_health.UNKNOWN: "Unknown"}  # fmt: skip


class DRAEndpoint:
    """One registered DRA plugin: its channel, chosen service and health messages."""

    def __init__(self, info: Any, service: str, on_change: Callable[[], None]) -> None:
        self.driver = info.name
        self.endpoint = info.endpoint
        self.service = service
        self.channel = grpc.insecure_channel(f"unix://{info.endpoint}")
        self.health: list[dict[str, tuple[str, str, int]]] = []  # {device: (pool, health, t)}
        self.stream_ended = threading.Event()
        self._on_change = on_change
        self._stream: Any = None
        prefix = _METHODS[service]
        self._prepare = self.channel.unary_unary(
            prefix + "NodePrepareResources",
            request_serializer=dra.NodePrepareResourcesRequest.SerializeToString,
            response_deserializer=dra.NodePrepareResourcesResponse.FromString,
        )
        self._unprepare = self.channel.unary_unary(
            prefix + "NodeUnprepareResources",
            request_serializer=dra.NodeUnprepareResourcesRequest.SerializeToString,
            response_deserializer=dra.NodeUnprepareResourcesResponse.FromString,
        )

    def watch_health(self) -> None:
        try:
            stub = dra_health_grpc.DRAResourceHealthStub(self.channel)
            self._stream = stub.NodeWatchResources(dra_health.NodeWatchResourcesRequest())
            for message in self._stream:
                self.health.append({
                    d.device.device_name: (d.device.pool_name, _HEALTH_NAMES[d.health],
                                           d.last_updated_time)
                    for d in message.devices
                })  # fmt: skip
                self._on_change()
        except grpc.RpcError:
            pass  # the plugin went away, or we closed the channel
        finally:
            self.stream_ended.set()
            self._on_change()

    def prepare(self, claims: Sequence[tuple[str, str, str]]) -> dict[str, Any]:
        """{uid: NodePrepareResourceResponse} for (namespace, name, uid) claims."""
        request = dra.NodePrepareResourcesRequest(
            claims=[dra.Claim(namespace=n, name=m, uid=u) for n, m, u in claims]
        )
        return dict(self._prepare(request, timeout=DEADLINE).claims)

    def unprepare(self, claims: Sequence[tuple[str, str, str]]) -> dict[str, Any]:
        request = dra.NodeUnprepareResourcesRequest(
            claims=[dra.Claim(namespace=n, name=m, uid=u) for n, m, u in claims]
        )
        return dict(self._unprepare(request, timeout=DEADLINE).claims)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
        self.channel.close()


class KubeletDRAStandIn:
    def __init__(
        self, registry_dir: str, services: Sequence[str] = ("v1.DRAPlugin", "v1beta1.DRAPlugin")
    ) -> None:
        self.registry_dir = registry_dir
        self.services = tuple(services)
        self.endpoints: dict[str, DRAEndpoint] = {}  # by driver name
        self.registrations: list[str] = []  # driver names, in the order they registered
        self.refused: list[str] = []
        self.changed = threading.Condition()
        self._sockets: dict[str, tuple[int, int, str]] = {}  # path -> identity, driver
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # --- the plugin watcher ---------------------------------------------------------
    def start(self) -> None:
        os.makedirs(self.registry_dir, exist_ok=True)
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch, name="dra-watch", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()
        with self.changed:
            endpoints, self.endpoints = list(self.endpoints.values()), {}
            self._sockets.clear()
        for endpoint in endpoints:
            endpoint.close()

    def _watch(self) -> None:
        while not self._stop.wait(_LOOK):
            try:
                names = sorted(os.listdir(self.registry_dir))
            except OSError:
                continue
            present = {}
            for name in names:
                path = os.path.join(self.registry_dir, name)
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
                present[path] = (stat.st_dev, stat.st_ino)
            for path in [p for p in self._sockets if p not in present]:
                self._deregister(path)
            for path, identity in present.items():
                known = self._sockets.get(path)
                if known is None or known[:2] != identity:
                    self._sockets[path] = (*identity, "")
                    self._register(path)

    def _register(self, path: str) -> None:
        try:
            with grpc.insecure_channel(f"unix://{path}") as channel:
                stub = registration_grpc.RegistrationStub(channel)
                info = stub.GetInfo(registration.InfoRequest(), timeout=DEADLINE)
                problem, service = self._refusal(info)
                stub.NotifyRegistrationStatus(
                    registration.RegistrationStatus(plugin_registered=not problem, error=problem),
                    timeout=DEADLINE,
                )
        except grpc.RpcError as err:
            problem, service = f"{path}: {err.code()}", ""
        if problem:
            with self.changed:
                self.refused.append(problem)
                self.changed.notify_all()
            return
        endpoint = DRAEndpoint(info, service, self._notify)
        with self.changed:
            old = self.endpoints.get(info.name)
            self.endpoints[info.name] = endpoint
            self.registrations.append(info.name)
            identity = self._sockets[path]
            self._sockets[path] = (identity[0], identity[1], info.name)
            self.changed.notify_all()
        if old is not None:
            old.close()
        threading.Thread(target=endpoint.watch_health, daemon=True).start()

    def _refusal(self, info: Any) -> tuple[str, str]:
        if info.type != "DRAPlugin":
            return f"plugin type {info.type!r} is not DRAPlugin", ""
        if not info.name:
            return "no driver name", ""
        if not os.path.isabs(info.endpoint):
            return f"endpoint {info.endpoint!r} is not an absolute path", ""
        for service in self.services:  # the kubelet's preference, not the plugin's
            if service in info.supported_versions:
                return "", service
        return f"none of {list(info.supported_versions)} is a service this kubelet speaks", ""

    def _deregister(self, path: str) -> None:
        _, _, driver = self._sockets.pop(path)
        with self.changed:
            endpoint = self.endpoints.pop(driver, None) if driver else None
            self.changed.notify_all()
        if endpoint is not None:
            endpoint.close()

    def _notify(self) -> None:
        with self.changed:
            self.changed.notify_all()

    # --- what tests ask ---------------------------------------------------------------
    def wait_for(self, what: str, predicate: Callable[[], Any], deadline: float = DEADLINE) -> Any:
        """Wait until ``predicate()`` is truthy and return it; fail saying ``what``."""
        return waiting.wait_for(self.changed, "kubelet DRA stand-in", what, predicate, deadline)

    def endpoint(self, driver: str) -> DRAEndpoint:
        return self.wait_for(f"{driver} to register", lambda: self.endpoints.get(driver))

    def wait_for_health(
        self,
        driver: str,
        predicate: Callable[[dict[str, str]], bool],
        what: str,
    ) -> dict[str, str]:
        """Wait for a health message, {device: health}, of the current endpoint that
        satisfies ``predicate``."""

        def matching() -> list[dict[str, str]]:  # a list: an empty dict may match
            endpoint = self.endpoints.get(driver)
            if endpoint is None or not endpoint.health:
                return []
            latest = {name: h for name, (_, h, _) in endpoint.health[-1].items()}
            return [latest] if predicate(latest) else []

        found: dict[str, str] = self.wait_for(what, matching)[0]
        return found

    def prepare(self, driver: str, *claims: tuple[str, str, str]) -> dict[str, Any]:
        return self.endpoint(driver).prepare(claims)

    def unprepare(self, driver: str, *claims: tuple[str, str, str]) -> dict[str, Any]:
        return self.endpoint(driver).unprepare(claims)
