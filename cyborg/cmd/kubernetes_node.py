"""The agent's Kubernetes side, as ``[kubernetes]`` asks: shared by cyborg-agent and
cyborg-aio.

Three parts, each off by default and fed by every discovery of the resource tracker:
the kubelet device plugins, the DRA kubelet plugins and the ResourceSlices publisher.
The DRA plugins read ResourceClaims through the same API-server client the publisher
uses, program FPGAs through the agent's Programmer, and make the device's owner the
one ``owner_factory`` gives (the conductor and Placement in a deployment).
"""

import dataclasses
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from oslo_config import cfg
from oslo_log import log

from cyborg.agent import programming
from cyborg.agent.resource_tracker import ResourceTracker
from cyborg.common import inventory
from cyborg.drivers.base import Driver

if TYPE_CHECKING:
    from cyborg.kubernetes.apiclient import KubernetesClient
    from cyborg.kubernetes.conductor_owner import ConductorDeviceOwner, PodClaimsAPI
    from cyborg.kubernetes.device_plugins import DevicePlugins
    from cyborg.kubernetes.dra.claims import ClaimSource
    from cyborg.kubernetes.dra.ownership import OwnerFactory
    from cyborg.kubernetes.dra.plugins import DRAPlugins
    from cyborg.kubernetes.fpga_bitstreams import PodProgrammer
    from cyborg.kubernetes.slice_publisher import SlicePublisher

LOG = log.getLogger(__name__)


class StartFailed(Exception):
    """A part could not start (no gRPC stubs, an unusable kubeconfig): the message is
    for the operator; nothing of the others is left running."""


@dataclasses.dataclass
class KubernetesNode:
    device_plugins: "DevicePlugins | None" = None
    dra: "DRAPlugins | None" = None
    slices: "SlicePublisher | None" = None

    def stop(self, seconds: float) -> None:
        """Stop serving the kubelet, then withdraw the slices within ``seconds``."""
        if self.device_plugins is not None:
            self.device_plugins.stop()
        if self.dra is not None:
            self.dra.stop()
        if self.slices is not None:  # its devices stop attracting pods before we go
            self.slices.stop(max(0.0, seconds))


class _ClaimsFromTheApiServer:
    """The DRA plugins' ClaimSource over the API client: a missing claim is
    ClaimNotFound, which the kubelet shows as such."""

    def __init__(self, client: "KubernetesClient") -> None:
        from cyborg.kubernetes import apiclient

        self._source = apiclient.ApiClaimSource(client)

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        from cyborg.kubernetes import apiclient
        from cyborg.kubernetes.dra import claims

        try:
            return self._source.get(namespace, name)
        except apiclient.NotFound as err:
            raise claims.ClaimNotFound(str(err)) from err


def _discover_all(drivers: list[Driver]) -> Callable[[], Iterable[inventory.DeviceReport]]:
    def discover() -> list[inventory.DeviceReport]:
        return [d for driver in programming.leaves(drivers) for d in driver.discover()]

    return discover


class _HolderSink(Protocol):
    def set_holders(self, holders: dict[str, str]) -> None: ...


class _HoldersFeed:
    """A tracker listener: after each discovery, asks the conductor who holds this
    host's devices and hands it to the slice publisher (which taints what VMs hold)
    and the device plugins (which list it Unhealthy). In a thread of its own, one ask
    at a time: a conductor that does not answer must not hold up the report."""

    def __init__(self, owner: "ConductorDeviceOwner", sinks: Sequence[_HolderSink]) -> None:
        self.owner = owner
        self.sinks = list(sinks)
        self._asking = threading.Lock()
        self._failing = False

    def __call__(self, reports: list[inventory.DeviceReport]) -> None:
        if self._asking.acquire(blocking=False):
            threading.Thread(target=self._ask, name="device-holders", daemon=True).start()

    def _ask(self) -> None:
        try:
            holders = self.owner.holders()
            for sink in self.sinks:
                sink.set_holders(holders)
            self._failing = False
        except Exception as err:
            if not self._failing:  # once per outage, not once per report
                LOG.warning("Asking the conductor which devices VMs hold failed (%s); the "
                            "slices keep the last answer", type(err).__name__)  # fmt: skip
            self._failing = True
        finally:
            self._asking.release()


def start(
    conf: cfg.ConfigOpts,
    tracker: ResourceTracker,
    drivers: list[Driver],
    programmer: programming.Programmer,
    conductor: "PodClaimsAPI | None" = None,
) -> KubernetesNode:
    """Start what ``[kubernetes]`` turns on; raises StartFailed. With ``conductor``,
    pods' devices are claimed through it (and Placement), and VM-held devices are
    tainted in the slices; without, only this node's own prepares keep two claims
    off one device."""
    k8s = conf.kubernetes
    node = KubernetesNode()
    owner = None
    if conductor is not None and (
        k8s.dra_enabled or k8s.resource_slices_enabled or k8s.device_plugin_enabled
    ):
        from cyborg.kubernetes.conductor_owner import ConductorDeviceOwner

        owner = ConductorDeviceOwner(conductor, conf.agent.resource_provider_name)
    try:
        client = None
        if k8s.dra_enabled or k8s.resource_slices_enabled:
            from cyborg.kubernetes import apiclient

            client = apiclient.connect(k8s.kubeconfig, k8s.api_timeout)
        if k8s.device_plugin_enabled:
            node.device_plugins = _device_plugins(conf, tracker, owner)
        if k8s.dra_enabled:
            assert client is not None
            from cyborg.kubernetes import fpga_bitstreams

            pods_programmer = fpga_bitstreams.PodProgrammer(
                programmer, k8s.fpga_bitstream_dirs, _discover_all(drivers)
            )
            source = _ClaimsFromTheApiServer(client)
            owner_factory = None if owner is None else _always(owner)
            node.dra = _dra_plugins(conf, tracker, source, pods_programmer, owner_factory)
        if k8s.resource_slices_enabled:
            assert client is not None
            node.slices = _resource_slices(conf, tracker, client)
        sinks = [s for s in (node.slices, node.device_plugins) if s is not None]
        if owner is not None and sinks:
            tracker.listeners.append(_HoldersFeed(owner, sinks))
    except Exception as err:
        node.stop(0)
        from cyborg.kubernetes.kubeconfig import ConfigError

        if isinstance(err, ImportError):  # the gRPC stubs were not generated at install
            raise StartFailed(str(err)) from err
        if isinstance(err, ConfigError):
            raise StartFailed(f"[kubernetes] {err}") from err
        raise
    return node


def _always(owner: "ConductorDeviceOwner") -> "OwnerFactory":
    """The one conductor owner for every driver: the conductor tells them apart."""

    def factory(driver: str, prepared: Any) -> "ConductorDeviceOwner":
        return owner

    return factory


def _device_plugins(
    conf: cfg.ConfigOpts, tracker: ResourceTracker, owner: "ConductorDeviceOwner | None" = None
) -> "DevicePlugins":
    """With ``owner``, Allocate claims through it and PodResources releases."""
    from cyborg.kubernetes import device_plugin_claims, device_plugins

    settings = device_plugins.Settings.from_conf(conf)
    claims = None
    if owner is not None:
        claims = device_plugin_claims.PluginClaims(
            owner, conf.agent.resource_provider_name, settings.release_after
        )
    plugins = device_plugins.DevicePlugins(settings, claims)
    tracker.listeners.append(plugins.update)
    plugins.start()
    LOG.info("kubelet device plugins on, in %s", conf.kubernetes.device_plugin_dir)
    return plugins


def _dra_plugins(
    conf: cfg.ConfigOpts,
    tracker: ResourceTracker,
    source: "ClaimSource",
    pods_programmer: "PodProgrammer | None" = None,
    owner_factory: "OwnerFactory | None" = None,
) -> "DRAPlugins":
    from cyborg.agent import mig
    from cyborg.kubernetes.dra import ownership
    from cyborg.kubernetes.dra import plugins as dra_plugins

    # MIG partitions are cut at prepare only where the slices offer them.
    partitioner = (
        mig.NvidiaSmiPartitioner(conf.agent.sysfs_root) if conf.kubernetes.mig_partitions else None
    )
    plugins = dra_plugins.DRAPlugins(
        dra_plugins.Settings.from_conf(conf),
        source,
        owner_factory or ownership.LocalOwner,
        pods_programmer,
        partitioner,
    )
    plugins.start()
    tracker.listeners.append(plugins.update)
    LOG.info("DRA kubelet plugins on, in %s", conf.kubernetes.dra_plugin_dir)
    return plugins


def _resource_slices(
    conf: cfg.ConfigOpts, tracker: ResourceTracker, client: "KubernetesClient | None" = None
) -> "SlicePublisher":
    from cyborg.kubernetes import apiclient, slice_publisher

    if client is None:
        client = apiclient.connect(conf.kubernetes.kubeconfig, conf.kubernetes.api_timeout)
    settings = slice_publisher.Settings.from_conf(conf)
    publisher = slice_publisher.SlicePublisher(client, settings)
    tracker.listeners.append(publisher.update)
    publisher.start()
    LOG.info("ResourceSlices on, for node %s at %s", settings.node_name, client.config.server)
    return publisher
