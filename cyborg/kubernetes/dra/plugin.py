"""One DRA kubelet plugin: one driver name, its two sockets, its checkpoint.

``<dra_plugin_dir>/<driver>/dra.sock`` serves DRAPlugin and DRAResourceHealth;
``<plugins_registry_dir>/<driver>-reg.sock`` serves the registration service, which
the kubelet's plugin watcher finds (it watches that directory), asks GetInfo and
then dials dra.sock. The registration socket is made after dra.sock serves and goes
first on stop, so the kubelet never finds a plugin that does not answer.
"""

import dataclasses
import os
from collections.abc import Sequence
from concurrent import futures

import grpc
from oslo_log import log

from cyborg.kubernetes import device_nodes
from cyborg.kubernetes.devices import PluginDevice
from cyborg.kubernetes.dra import claims, servicers
from cyborg.kubernetes.dra.checkpoint import Checkpoint
from cyborg.kubernetes.dra.driver_devices import DriverDevices
from cyborg.kubernetes.dra.mig_partitions import MigPartitioner
from cyborg.kubernetes.dra.ownership import OwnerFactory
from cyborg.kubernetes.dra.preparer import Preparer, PrepareSettings
from cyborg.kubernetes.fpga_bitstreams import PodProgrammer
from cyborg.kubernetes.stubs import dra_grpc, dra_health_grpc, registration_grpc

LOG = log.getLogger(__name__)

STOP_GRACE = 1.0  # seconds a call in flight gets to finish when the plugin stops


@dataclasses.dataclass(frozen=True)
class DRAOptions:
    pool: str  # this node's name: the pool of its ResourceSlices
    plugin_dir: str = "/var/lib/kubelet/plugins"
    registry_dir: str = "/var/lib/kubelet/plugins_registry"
    checkpoint_dir: str | None = None  # None: in the driver's plugin directory
    cdi_spec_dir: str = "/var/run/cdi"
    sysfs_root: str = "/"


def socket_path(options: DRAOptions, driver: str) -> str:
    return os.path.join(options.plugin_dir, driver, "dra.sock")


def registration_path(options: DRAOptions, driver: str) -> str:
    return os.path.join(options.registry_dir, f"{driver}-reg.sock")


def checkpoint_path(options: DRAOptions, driver: str) -> str:
    if options.checkpoint_dir:
        return os.path.join(options.checkpoint_dir, f"{driver}.json")
    return os.path.join(options.plugin_dir, driver, "checkpoint.json")


def _unlink(path: str) -> None:
    if os.path.lexists(path):
        os.unlink(path)  # a socket left by an earlier run refuses to bind


class DRAPlugin:
    """Raises CheckpointCorrupt when the driver's checkpoint cannot be read."""

    def __init__(
        self,
        driver: str,
        options: DRAOptions,
        source: claims.ClaimSource,
        owner_factory: OwnerFactory,
        programmer: PodProgrammer | None = None,
        partitioner: MigPartitioner | None = None,
    ) -> None:
        self.driver = driver
        self.options = options
        self.socket_path = socket_path(options, driver)
        self.registration_path = registration_path(options, driver)
        self.devices = DriverDevices()
        self.checkpoint = Checkpoint(checkpoint_path(options, driver), driver)
        settings = PrepareSettings(driver, options.pool, options.cdi_spec_dir)
        owner = owner_factory(driver, self.checkpoint)
        self.preparer = Preparer(
            settings, self.devices, source, owner, self.checkpoint, programmer, partitioner
        )
        try:  # before serving: no prepare is under way
            self.preparer.reap_orphans()
        except Exception:  # the list unreadable, nvidia-smi away: the instances stay
            LOG.exception("%s: looking for MIG instances of no prepared claim failed", driver)
        self.registration = servicers.RegistrationServicer(driver, self.socket_path)
        self._health: servicers.HealthServicer | None = None
        self._servers: list[tuple[grpc.Server, str]] = []  # in start order

    def update(self, devices: Sequence[PluginDevice]) -> None:
        """This discovery's devices of the driver (health streams see changes)."""
        root = self.options.sysfs_root
        nodes = {d.id: device_nodes.device_nodes(root, d.id) for d in devices}
        if self.devices.replace(devices, nodes):
            LOG.info("%s: %d devices (%d healthy)", self.driver, len(devices),
                     sum(d.healthy for d in devices))  # fmt: skip

    def serving(self) -> bool:
        return len(self._servers) == 2 and all(os.path.exists(p) for _, p in self._servers)

    def serve(self) -> None:
        """(Re)start both servers on fresh sockets."""
        self.stop()
        os.makedirs(os.path.dirname(self.socket_path), exist_ok=True)
        os.makedirs(self.options.registry_dir, exist_ok=True)
        health = self._health = servicers.HealthServicer(self.options.pool, self.devices)
        plugin = servicers.DRAServicer(self.driver, self.preparer)
        service = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        dra_grpc.add_DRAPluginServicer_to_server(plugin, service)
        service.add_generic_rpc_handlers((servicers.v1beta1_handler(plugin),))
        dra_health_grpc.add_DRAResourceHealthServicer_to_server(health, service)
        self._start(service, self.socket_path)
        registrar = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        registration_grpc.add_RegistrationServicer_to_server(self.registration, registrar)
        self._start(registrar, self.registration_path)
        LOG.info("%s: DRA plugin on %s, registration on %s", self.driver, self.socket_path,
                 self.registration_path)  # fmt: skip

    def _start(self, server: grpc.Server, path: str) -> None:
        _unlink(path)
        server.add_insecure_port(f"unix://{path}")
        server.start()
        self._servers.append((server, path))

    def stop(self) -> None:
        """Stop serving and remove both sockets (the registration one first)."""
        if self._health is not None:
            self._health.stopping.set()
            self.devices.wake()
        for server, path in reversed(self._servers):
            _unlink(path)  # first: the kubelet's watcher sees the plugin go
            server.stop(grace=STOP_GRACE).wait()
        self._servers, self._health = [], None
        self.registration.registered.clear()
