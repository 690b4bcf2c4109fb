"""One kubelet device plugin (API v1beta1): one resource name, its socket, its devices.

The kubelet dials the plugin's socket after the plugin registered on kubelet.sock, asks
for its options, keeps a ListAndWatch stream open (a new list is sent whenever the
devices or their health change) and calls GetPreferredAllocation and Allocate when a
container asks for the resource. The choices themselves live in pure modules:
cyborg.kubernetes.preferred and cyborg.kubernetes.allocation. With claims (a
conductor), Allocate claims the devices in Placement first
(cyborg.kubernetes.device_plugin_claims), and devices a VM holds are listed
Unhealthy so that the kubelet does not pick them.
"""

import dataclasses
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent import futures
from typing import Any

import grpc
from oslo_log import log

from cyborg.kubernetes import allocation, cdi, device_nodes, preferred
from cyborg.kubernetes.device_plugin_claims import PluginClaims
from cyborg.kubernetes.devices import PluginDevice
from cyborg.kubernetes.ownership_errors import DeviceRefused
from cyborg.kubernetes.stubs import (
    DEVICE_PLUGIN_VERSION,
    HEALTHY,
    UNHEALTHY,
    deviceplugin,
    deviceplugin_grpc,
)

LOG = log.getLogger(__name__)

KUBELET_SOCKET = "kubelet.sock"
REGISTER_TIMEOUT = 10.0  # seconds; the kubelet answers at once when it is up
_STREAM_TICK = 0.5  # how often an idle ListAndWatch checks its client is still there


@dataclasses.dataclass(frozen=True)
class PluginOptions:
    plugin_dir: str  # the kubelet's device-plugins directory
    sysfs_root: str = "/"
    cdi: bool = False  # name devices as CDI devices and write their spec
    cdi_spec_dir: str = "/var/run/cdi"


def socket_name(resource_name: str) -> str:
    return f"cyborg-{resource_name.rsplit('/', 1)[-1]}.sock"


class _Devices:
    """The plugin's current devices; a version bump wakes every ListAndWatch stream."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.version = 0
        self.by_id: dict[str, PluginDevice] = {}
        self.nodes: dict[str, tuple[str, ...]] = {}
        self.vm_held: frozenset[str] = frozenset()  # deployables a VM holds

    def hold(self, deployables: frozenset[str]) -> bool:
        """Record what VMs hold (of the whole host); True when the list changes."""
        with self.changed:
            mine = {d.deployable for d in self.by_id.values()}
            before, self.vm_held = self.vm_held & mine, deployables
            if deployables & mine == before:
                return False
            self.version += 1
            self.changed.notify_all()
            return True

    def replace(self, devices: Sequence[PluginDevice], nodes: dict[str, tuple[str, ...]]) -> bool:
        by_id = {d.id: d for d in devices}
        with self.changed:
            if by_id == self.by_id and nodes == self.nodes:
                return False
            self.by_id, self.nodes = by_id, nodes
            self.version += 1
            self.changed.notify_all()
            return True


def _kubelet_device(device: PluginDevice, vm_held: frozenset[str]) -> Any:
    topology = None
    if device.numa_node is not None:
        topology = deviceplugin.TopologyInfo(nodes=[deviceplugin.NUMANode(ID=device.numa_node)])
    usable = device.healthy and device.deployable not in vm_held
    return deviceplugin.Device(
        ID=device.id, health=HEALTHY if usable else UNHEALTHY, topology=topology
    )


class _Servicer(deviceplugin_grpc.DevicePluginServicer):
    """The DevicePlugin service of one server run; ``stopping`` ends its streams."""

    def __init__(
        self,
        resource_name: str,
        devices: _Devices,
        options: PluginOptions,
        claims: PluginClaims | None = None,
    ) -> None:
        self.resource_name = resource_name
        self.devices = devices
        self.options = options
        self.claims = claims
        self.stopping = threading.Event()

    def GetDevicePluginOptions(self, request: Any, context: Any) -> Any:
        return deviceplugin.DevicePluginOptions(
            pre_start_required=False, get_preferred_allocation_available=True
        )

    def ListAndWatch(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        sent = -1
        state = self.devices
        while context.is_active() and not self.stopping.is_set():
            with state.changed:
                state.changed.wait_for(
                    lambda seen=sent: state.version != seen or self.stopping.is_set(),  # type: ignore[misc]
                    _STREAM_TICK,
                )
                if state.version == sent or self.stopping.is_set():
                    continue
                sent, current = state.version, list(state.by_id.values())
                held = state.vm_held
            yield deviceplugin.ListAndWatchResponse(
                devices=[_kubelet_device(d, held) for d in current]
            )

    def GetPreferredAllocation(self, request: Any, context: Any) -> Any:
        by_id = dict(self.devices.by_id)
        answers = [
            deviceplugin.ContainerPreferredAllocationResponse(
                deviceIDs=preferred.preferred(
                    list(r.available_deviceIDs),
                    list(r.must_include_deviceIDs),
                    r.allocation_size,
                    by_id,
                )
            )
            for r in request.container_requests
        ]
        return deviceplugin.PreferredAllocationResponse(container_responses=answers)

    def Allocate(self, request: Any, context: grpc.ServicerContext) -> Any:
        by_id, nodes = dict(self.devices.by_id), dict(self.devices.nodes)
        answers = []
        for container in request.container_requests:
            try:
                chosen = allocation.container_allocation(
                    list(container.devices_ids), by_id, nodes, self.resource_name, self.options.cdi
                )
            except allocation.UnknownDevice as err:
                context.abort(grpc.StatusCode.NOT_FOUND, str(err))
            except allocation.UnhealthyDevice as err:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(err))
            answers.append(
                deviceplugin.ContainerAllocateResponse(
                    envs=chosen.envs,
                    devices=[
                        deviceplugin.DeviceSpec(container_path=p, host_path=p, permissions="rw")
                        for p in chosen.device_nodes
                    ],
                    cdi_devices=[deviceplugin.CDIDevice(name=n) for n in chosen.cdi_devices],
                )
            )
        if self.claims is not None:
            wanted = dict.fromkeys(i for c in request.container_requests for i in c.devices_ids)
            try:
                self.claims.claim(self.resource_name, [by_id[i] for i in wanted])
            except DeviceRefused as err:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, err.reason)
        return deviceplugin.AllocateResponse(container_responses=answers)

    def PreStartContainer(self, request: Any, context: Any) -> Any:
        return deviceplugin.PreStartContainerResponse()


class DevicePlugin:
    """Serves one resource name on ``<plugin_dir>/cyborg-<kind>.sock``."""

    def __init__(
        self, resource_name: str, options: PluginOptions, claims: PluginClaims | None = None
    ) -> None:
        self.resource_name = resource_name
        self.options = options
        self.claims = claims
        self.socket_path = os.path.join(options.plugin_dir, socket_name(resource_name))
        self.devices = _Devices()
        self._server: grpc.Server | None = None
        self._servicer: _Servicer | None = None

    def update(self, devices: Sequence[PluginDevice]) -> None:
        """Offer these devices from now on (streams get the new list if it differs)."""
        nodes = {
            d.id: tuple(device_nodes.device_nodes(self.options.sysfs_root, d.id)) for d in devices
        }
        if self.claims is not None:
            self.claims.adopt(self.resource_name, devices)
        if self.devices.replace(devices, nodes):
            LOG.info("%s: %d devices (%d healthy)", self.resource_name, len(devices),
                     sum(d.healthy for d in devices))  # fmt: skip
            if self.options.cdi:
                cdi.write(self.options.cdi_spec_dir, cdi.spec(self.resource_name, devices, nodes))

    def hold(self, deployables: frozenset[str]) -> None:
        """Devices of these deployables are a VM's: listed Unhealthy from now on."""
        if self.devices.hold(deployables):
            LOG.info(
                "%s: VMs hold %s", self.resource_name, ", ".join(sorted(deployables)) or "none"
            )

    def serving(self) -> bool:
        return self._server is not None and os.path.exists(self.socket_path)

    def serve(self) -> None:
        """(Re)start the gRPC server on a fresh socket."""
        self.stop()
        if os.path.lexists(self.socket_path):
            os.unlink(self.socket_path)  # a socket left by an earlier run refuses to bind
        servicer = _Servicer(self.resource_name, self.devices, self.options, self.claims)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        deviceplugin_grpc.add_DevicePluginServicer_to_server(servicer, server)
        server.add_insecure_port(f"unix://{self.socket_path}")
        server.start()
        self._server, self._servicer = server, servicer

    def register(self) -> None:
        """Register with the kubelet; raises grpc.RpcError when it is not there."""
        kubelet = os.path.join(self.options.plugin_dir, KUBELET_SOCKET)
        request = deviceplugin.RegisterRequest(
            version=DEVICE_PLUGIN_VERSION,
            endpoint=os.path.basename(self.socket_path),
            resource_name=self.resource_name,
            options=deviceplugin.DevicePluginOptions(get_preferred_allocation_available=True),
        )
        with grpc.insecure_channel(f"unix://{kubelet}") as channel:
            deviceplugin_grpc.RegistrationStub(channel).Register(request, timeout=REGISTER_TIMEOUT)
        LOG.info("%s registered with the kubelet", self.resource_name)

    def stop(self) -> None:
        if self._servicer is not None:
            self._servicer.stopping.set()
            with self.devices.changed:
                self.devices.changed.notify_all()
        if self._server is not None:
            self._server.stop(grace=1.0).wait()
            if os.path.lexists(self.socket_path):
                os.unlink(self.socket_path)
        self._server = self._servicer = None
