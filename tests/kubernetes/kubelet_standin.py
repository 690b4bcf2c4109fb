"""A kubelet stand-in: the device manager's side of the device plugin API v1beta1.

No kubelet can run on these machines, so this does what the kubelet's device manager
does, over real unix sockets and real gRPC: it serves Registration on
``<dir>/kubelet.sock``, refuses what the kubelet refuses (another API version, a
resource name that is not an extended resource name, an endpoint that is not a file
name in the directory), dials the plugin's socket back, asks GetDevicePluginOptions and
keeps a ListAndWatch stream open, recording every list it gets. Tests call Allocate and
GetPreferredAllocation through it, and ``restart()`` does what a kubelet restart does
to the directory: it removes every file in it (the plugins' sockets too) and makes a
new kubelet.sock.

``serve_pod_resources`` also serves the PodResources API v1 List on its own socket,
as the kubelet does on ``pod-resources/kubelet.sock``: the devices an ``allocate``
naming a pod gave its containers, until ``end_pod`` (the pod is gone).
"""

import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from typing import Any

import grpc

from cyborg.kubernetes.stubs import (
    deviceplugin,
    deviceplugin_grpc,
    podresources,
    podresources_grpc,
)
from tests.kubernetes import waiting
from tests.kubernetes.waiting import DEADLINE

_DOMAIN = r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?"
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_EXTENDED_RESOURCE = re.compile(rf"^{_DOMAIN}/{_NAME}$")


class Endpoint:
    """One registered plugin as the kubelet keeps it: its channel, options and lists."""

    def __init__(self, plugin_dir: str, request: Any, on_list: Callable[[], None]) -> None:
        self.resource_name = request.resource_name
        self.socket = os.path.join(plugin_dir, request.endpoint)
        self.channel = grpc.insecure_channel(f"unix://{self.socket}")
        self.stub = deviceplugin_grpc.DevicePluginStub(self.channel)
        self.registered_options = request.options
        self.options: Any = None
        self.lists: list[list[Any]] = []
        self.stream_ended = threading.Event()
        self._on_list = on_list
        self._stream: Any = None

    def run(self) -> None:
        """GetDevicePluginOptions, then ListAndWatch until the stream ends."""
        try:
            self.options = self.stub.GetDevicePluginOptions(deviceplugin.Empty(), timeout=DEADLINE)
            self._stream = self.stub.ListAndWatch(deviceplugin.Empty())
            for response in self._stream:
                self.lists.append(list(response.devices))
                self._on_list()
        except grpc.RpcError:
            pass  # the plugin went away or we closed the channel
        finally:
            self.stream_ended.set()
            self._on_list()

    def close(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
        self.channel.close()


class PodResourcesStandIn(podresources_grpc.PodResourcesListerServicer):  # type: ignore[misc]
    """The kubelet's PodResourcesLister: List of the pods' containers' devices."""

    def __init__(self) -> None:
        # (namespace, pod) -> [(container, resource name, device IDs)]
        self.pods: dict[tuple[str, str], list[tuple[str, str, list[str]]]] = {}
        self.lists = 0  # List calls answered
        self._lock = threading.Lock()

    def List(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self._lock:
            self.lists += 1
            pods = [
                podresources.PodResources(
                    namespace=namespace,
                    name=name,
                    containers=[
                        podresources.ContainerResources(
                            name=container,
                            devices=[
                                podresources.ContainerDevices(
                                    resource_name=resource, device_ids=ids
                                )
                            ],
                        )
                        for container, resource, ids in containers
                    ],
                )
                for (namespace, name), containers in self.pods.items()
            ]
        return podresources.ListPodResourcesResponse(pod_resources=pods)

    def add(
        self, pod: tuple[str, str], resource: str, containers: Sequence[Sequence[str]]
    ) -> None:
        with self._lock:
            held = self.pods.setdefault(pod, [])
            for ids in containers:
                held.append((f"c{len(held)}", resource, list(ids)))

    def run_pod(self, pod: tuple[str, str]) -> None:
        """A pod without devices of ours (another DaemonSet's, the agent's own)."""
        with self._lock:
            self.pods.setdefault(pod, [])

    def end(self, pod: tuple[str, str]) -> None:
        with self._lock:
            self.pods.pop(pod, None)


class KubeletStandIn(deviceplugin_grpc.RegistrationServicer):  # type: ignore[misc]
    def __init__(self, plugin_dir: str) -> None:
        self.plugin_dir = plugin_dir
        self.socket = os.path.join(plugin_dir, "kubelet.sock")
        self.endpoints: dict[str, Endpoint] = {}
        self.registrations: list[str] = []  # resource names, in the order they registered
        self.refused: list[str] = []
        self.changed = threading.Condition()
        self._server: grpc.Server | None = None
        self.pod_resources = PodResourcesStandIn()
        self._pod_resources_server: grpc.Server | None = None

    # --- the Registration service -----------------------------------------------------
    def Register(self, request: Any, context: grpc.ServicerContext) -> Any:
        problem = self._refusal(request)
        if problem:
            with self.changed:
                self.refused.append(problem)
                self.changed.notify_all()
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        endpoint = Endpoint(self.plugin_dir, request, self._notify)
        with self.changed:
            old = self.endpoints.get(request.resource_name)
            self.endpoints[request.resource_name] = endpoint
            self.registrations.append(request.resource_name)
            self.changed.notify_all()
        if old is not None:
            old.close()  # as the kubelet: a new registration replaces the old endpoint
        threading.Thread(target=endpoint.run, daemon=True).start()
        return deviceplugin.Empty()

    def _refusal(self, request: Any) -> str:
        if request.version != "v1beta1":
            return f"unsupported API version {request.version!r}"
        if not _EXTENDED_RESOURCE.match(request.resource_name) or request.resource_name.split("/")[
            0
        ].endswith("kubernetes.io"):
            return f"invalid extended resource name {request.resource_name!r}"
        if os.path.basename(request.endpoint) != request.endpoint or not request.endpoint:
            return f"endpoint {request.endpoint!r} is not a file name in the directory"
        return ""

    def _notify(self) -> None:
        with self.changed:
            self.changed.notify_all()

    # --- life cycle -----------------------------------------------------------------
    def start(self) -> None:
        os.makedirs(self.plugin_dir, exist_ok=True)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        deviceplugin_grpc.add_RegistrationServicer_to_server(self, server)
        server.add_insecure_port(f"unix://{self.socket}")
        server.start()
        self._server = server

    def serve_pod_resources(self, socket_path: str) -> None:
        os.makedirs(os.path.dirname(socket_path), exist_ok=True)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        podresources_grpc.add_PodResourcesListerServicer_to_server(self.pod_resources, server)
        server.add_insecure_port(f"unix://{socket_path}")
        server.start()
        self._pod_resources_server = server

    def stop_pod_resources(self) -> None:
        if self._pod_resources_server is not None:
            self._pod_resources_server.stop(grace=None).wait()
            self._pod_resources_server = None

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait()
            self._server = None
        with self.changed:
            endpoints, self.endpoints = list(self.endpoints.values()), {}
        for endpoint in endpoints:
            endpoint.close()
        if os.path.lexists(self.socket):
            os.unlink(self.socket)

    def restart(self) -> None:
        """As a kubelet restart: every file in the directory goes, then a new kubelet.sock."""
        self.stop()
        for name in os.listdir(self.plugin_dir):
            os.unlink(os.path.join(self.plugin_dir, name))
        self.start()

    # --- what tests ask ---------------------------------------------------------------
    def wait_for(self, what: str, predicate: Callable[[], Any], deadline: float = DEADLINE) -> Any:
        """Wait until ``predicate()`` is truthy and return it; fail saying ``what``."""
        return waiting.wait_for(self.changed, "kubelet stand-in", what, predicate, deadline)

    def endpoint(self, resource_name: str) -> Endpoint:
        return self.wait_for(
            f"{resource_name} to register", lambda: self.endpoints.get(resource_name)
        )

    def latest(self, resource_name: str) -> list[Any]:
        """The last ListAndWatch list of the resource (waits for a first one)."""
        endpoint = self.endpoint(resource_name)
        return self.wait_for(
            f"a ListAndWatch list of {resource_name}",
            lambda: endpoint.lists and endpoint.lists[-1:],
        )[0]

    def wait_for_list(
        self, resource_name: str, predicate: Callable[[dict[str, str]], bool], what: str
    ) -> dict[str, str]:
        """Wait for a list, {ID: health}, of the current endpoint that satisfies predicate."""

        def matching() -> list[dict[str, str]]:  # a list: an empty dict may match
            endpoint = self.endpoints.get(resource_name)
            if endpoint is None or not endpoint.lists:
                return []
            devices = {d.ID: d.health for d in endpoint.lists[-1]}
            return [devices] if predicate(devices) else []

        found: dict[str, str] = self.wait_for(what, matching)[0]
        return found

    def allocate(
        self, resource_name: str, *containers: Sequence[str], pod: tuple[str, str] | None = None
    ) -> Any:
        """Allocate; with ``pod`` (namespace, name), a success lists the devices in
        PodResources under that pod, as the kubelet's device manager does."""
        request = deviceplugin.AllocateRequest(
            container_requests=[
                deviceplugin.ContainerAllocateRequest(devices_ids=list(ids)) for ids in containers
            ]
        )
        answer = self.endpoint(resource_name).stub.Allocate(request, timeout=DEADLINE)
        if pod is not None:
            self.pod_resources.add(pod, resource_name, containers)
        return answer

    def end_pod(self, pod: tuple[str, str]) -> None:
        """The pod is gone: PodResources no longer lists its devices."""
        self.pod_resources.end(pod)

    def preferred(
        self, resource_name: str, available: Sequence[str], must: Sequence[str], size: int
    ) -> list[str]:
        request = deviceplugin.PreferredAllocationRequest(
            container_requests=[
                deviceplugin.ContainerPreferredAllocationRequest(
                    available_deviceIDs=list(available),
                    must_include_deviceIDs=list(must),
                    allocation_size=size,
                )
            ]
        )
        endpoint = self.endpoint(resource_name)
        self.wait_for("the plugin's options", lambda: endpoint.options is not None)
        # The kubelet calls GetPreferredAllocation only on a plugin that offers it.
        assert endpoint.options.get_preferred_allocation_available
        answer = endpoint.stub.GetPreferredAllocation(request, timeout=DEADLINE)
        return list(answer.container_responses[0].deviceIDs)
