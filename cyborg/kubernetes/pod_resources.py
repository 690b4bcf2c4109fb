"""Which devices the kubelet has given to pods: its PodResources API v1, List.

The device plugin API never tells a plugin that a pod ended; the kubelet's
PodResources service (``/var/lib/kubelet/pod-resources/kubelet.sock``) lists, for
every pod it runs, the device IDs of each resource name its containers hold.
"""

import dataclasses
from collections.abc import Mapping

import grpc

from cyborg.kubernetes.stubs import podresources, podresources_grpc

#: (resource name, device ID) -> (namespace, pod name) of the pod holding it.
Assigned = Mapping[tuple[str, str], tuple[str, str]]


@dataclasses.dataclass(frozen=True)
class Listing:
    pods: int  # how many pods the kubelet listed, with devices or not
    devices: dict[tuple[str, str], tuple[str, str]]


def listing(socket_path: str, timeout: float) -> Listing:
    """The kubelet's devices by pod; raises grpc.RpcError when it does not answer."""
    with grpc.insecure_channel(f"unix://{socket_path}") as channel:
        answer = podresources_grpc.PodResourcesListerStub(channel).List(
            podresources.ListPodResourcesRequest(), timeout=timeout
        )
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for pod in answer.pod_resources:
        for container in pod.containers:
            for devices in container.devices:
                for device_id in devices.device_ids:
                    found[(devices.resource_name, device_id)] = (pod.namespace, pod.name)
    return Listing(len(answer.pod_resources), found)
