"""The kubelet protos: stubs current with their .proto files, and the wire contract.

The table below is what the kubelet's published APIs say (package, services, methods,
field numbers); a change to a .proto that breaks the wire fails here.
"""

import os
import pathlib
import subprocess
import sys
import zipfile

import pytest

from cyborg.kubernetes.protos import (
    deviceplugin_v1beta1_pb2,
    dra_health_v1alpha1_pb2,
    dra_v1_pb2,
    pluginregistration_v1_pb2,
    podresources_v1_pb2,
)

ROOT = pathlib.Path(__file__).resolve().parents[3]

SERVICES = {
    deviceplugin_v1beta1_pb2: {
        "v1beta1.Registration": ["Register"],
        "v1beta1.DevicePlugin": [
            "GetDevicePluginOptions", "ListAndWatch", "GetPreferredAllocation", "Allocate",
            "PreStartContainer",
        ],
    },
    pluginregistration_v1_pb2: {
        "pluginregistration.Registration": ["GetInfo", "NotifyRegistrationStatus"],
    },
    dra_v1_pb2: {
        "k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin": [
            "NodePrepareResources", "NodeUnprepareResources",
        ],
    },
    dra_health_v1alpha1_pb2: {"v1alpha1.DRAResourceHealth": ["NodeWatchResources"]},
    podresources_v1_pb2: {
        "v1.PodResourcesLister": ["List", "GetAllocatableResources", "Get"],
    },
}  # fmt: skip
STREAMING = {"v1beta1.DevicePlugin.ListAndWatch", "v1alpha1.DRAResourceHealth.NodeWatchResources"}

FIELDS = {
    deviceplugin_v1beta1_pb2: {
        "DevicePluginOptions": {"pre_start_required": 1, "get_preferred_allocation_available": 2},
        "RegisterRequest": {"version": 1, "endpoint": 2, "resource_name": 3, "options": 4},
        "ListAndWatchResponse": {"devices": 1},
        "TopologyInfo": {"nodes": 1},
        "NUMANode": {"ID": 1},
        "Device": {"ID": 1, "health": 2, "topology": 3},
        "PreStartContainerRequest": {"devices_ids": 1},
        "PreferredAllocationRequest": {"container_requests": 1},
        "ContainerPreferredAllocationRequest": {
            "available_deviceIDs": 1, "must_include_deviceIDs": 2, "allocation_size": 3,
        },
        "PreferredAllocationResponse": {"container_responses": 1},
        "ContainerPreferredAllocationResponse": {"deviceIDs": 1},
        "AllocateRequest": {"container_requests": 1},
        "ContainerAllocateRequest": {"devices_ids": 1},
        "CDIDevice": {"name": 1},
        "AllocateResponse": {"container_responses": 1},
        "ContainerAllocateResponse": {
            "envs": 1, "mounts": 2, "devices": 3, "annotations": 4, "cdi_devices": 5,
        },
        "Mount": {"container_path": 1, "host_path": 2, "read_only": 3},
        "DeviceSpec": {"container_path": 1, "host_path": 2, "permissions": 3},
    },
    pluginregistration_v1_pb2: {
        "PluginInfo": {"type": 1, "name": 2, "endpoint": 3, "supported_versions": 4},
        "RegistrationStatus": {"plugin_registered": 1, "error": 2},
    },
    dra_v1_pb2: {
        "NodePrepareResourcesRequest": {"claims": 1},
        "NodePrepareResourcesResponse": {"claims": 1},
        "NodePrepareResourceResponse": {"devices": 1, "error": 2},
        "Device": {"request_names": 1, "pool_name": 2, "device_name": 3, "cdi_device_ids": 4},
        "NodeUnprepareResourcesRequest": {"claims": 1},
        "NodeUnprepareResourcesResponse": {"claims": 1},
        "NodeUnprepareResourceResponse": {"error": 1},
        "Claim": {"namespace": 1, "uid": 2, "name": 3},
    },
    dra_health_v1alpha1_pb2: {
        "DeviceIdentifier": {"pool_name": 1, "device_name": 2},
        "DeviceHealth": {"device": 1, "health": 2, "last_updated_time": 3},
        "NodeWatchResourcesResponse": {"devices": 1},
    },
    podresources_v1_pb2: {
        "AllocatableResourcesResponse": {"devices": 1, "cpu_ids": 2, "memory": 3},
        "ListPodResourcesResponse": {"pod_resources": 1},
        "PodResources": {"name": 1, "namespace": 2, "containers": 3},
        "ContainerResources": {
            "name": 1, "devices": 2, "cpu_ids": 3, "memory": 4, "dynamic_resources": 5,
        },
        "ContainerMemory": {"memory_type": 1, "size": 2, "topology": 3},
        "ContainerDevices": {"resource_name": 1, "device_ids": 2, "topology": 3},
        "TopologyInfo": {"nodes": 1},
        "NUMANode": {"ID": 1},
        "DynamicResource": {"claim_name": 2, "claim_namespace": 3, "claim_resources": 4},
        "ClaimResource": {"cdi_devices": 1, "driver_name": 2, "pool_name": 3, "device_name": 4},
        "CDIDevice": {"name": 1},
        "GetPodResourcesRequest": {"pod_name": 1, "pod_namespace": 2},
        "GetPodResourcesResponse": {"pod_resources": 1},
    },
}  # fmt: skip


def test_generated_stubs_are_current() -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "generate-protos.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr + "\nrun tools/generate-protos.py"


@pytest.mark.parametrize("module", list(SERVICES), ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_services_and_methods(module: object) -> None:
    file = module.DESCRIPTOR  # type: ignore[attr-defined]
    found = {s.full_name: [m.name for m in s.methods] for s in file.services_by_name.values()}
    assert found == SERVICES[module]  # type: ignore[index]
    streaming = {
        f"{s.full_name}.{m.name}"
        for s in file.services_by_name.values()
        for m in s.methods
        if m.server_streaming
    }
    assert streaming == STREAMING & {f"{s}.{m}" for s, ms in found.items() for m in ms}


@pytest.mark.parametrize("module", list(FIELDS), ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_field_numbers(module: object) -> None:
    messages = module.DESCRIPTOR.message_types_by_name  # type: ignore[attr-defined]
    for name, fields in FIELDS[module].items():  # type: ignore[index]
        assert {f.name: f.number for f in messages[name].fields} == fields, name


def test_health_status_values() -> None:
    status = dra_health_v1alpha1_pb2.HealthStatus
    assert (status.Value("UNKNOWN"), status.Value("HEALTHY"), status.Value("UNHEALTHY")) == (
        0,
        1,
        2,
    )


def test_a_wheel_built_from_the_sources_carries_the_stubs(tmp_path: pathlib.Path) -> None:
    """The stubs are not committed: setup.py's build_py compiles them into the build."""
    source = tmp_path / "source"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((ROOT / name).read_bytes())
    assert not list((source / "cyborg/kubernetes/protos").glob("*_pb2*"))
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, env={**os.environ, "PBR_VERSION": "1.0.0"},
    )  # fmt: skip
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        stubs = {n for n in archive.namelist() if n.startswith("cyborg/kubernetes/protos/")}
    for proto in (ROOT / "cyborg/kubernetes/protos").glob("*.proto"):
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
            assert f"cyborg/kubernetes/protos/{proto.stem}{suffix}" in stubs
