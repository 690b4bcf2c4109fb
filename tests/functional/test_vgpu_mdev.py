"""A vGPU bind through every real piece: API, conductor and agent processes over
RabbitMQ, and the agent's oslo.privsep daemon writing to sysfs.

The agent runs the NVIDIA driver on a copy of a recorded host (tests/fixtures/hosts/
nvidia-t4-vgpu) in a temporary directory, with nvidia-223 enabled on 0000:d8:00.0.
Its privsep daemon is started with ``privsep-helper`` directly (no sudo), so the test
must run as root. In the copy, sysfs's ``create`` and ``remove`` are plain files: the
uuid the daemon writes lands in them, and the test then does what the kernel would
(makes the mdev's directory) so that the removal has an mdev to remove.
"""

import os
import pathlib
import shutil
from typing import Any

import pytest
import requests

from tests.functional import nova_calls, services

HOST = "vgpu-host.example.com"
GPU = "0000:d8:00.0"
FIXTURE = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "hosts" / "nvidia-t4-vgpu"
DEPLOYABLE = f"{HOST}_{GPU}"
INSTANCE = "8a9b0c1d-2e3f-4a5b-8c6d-7e8f9a0b1c2d"
TOKEN = "functional-user-token"
# How long the conductor waits for the agent's mdev write, which may first wait for
# the privileged helper to start: generous, so that a loaded machine cannot fail a bind.
MDEV_WAIT = 180
AGENT_WAIT = f"[agent]\nmdev_timeout = {MDEV_WAIT}\n"


@pytest.fixture
def root(tmp_path: pathlib.Path) -> pathlib.Path:
    if os.geteuid() != 0:
        pytest.fail(
            "test_vgpu_mdev must run as root: the agent starts its privsep daemon "
            "with privsep-helper directly, without sudo",
            pytrace=False,
        )
    host = tmp_path / "host"
    shutil.copytree(FIXTURE, host, symlinks=True)
    return host


def _type_dir(root: pathlib.Path) -> pathlib.Path:
    return root / "sys/class/mdev_bus" / GPU / "mdev_supported_types" / "nvidia-223"


def _agent_conf(deployment: services.Deployment, root: pathlib.Path) -> str:
    conf_path = os.path.join(deployment.directory, "agent-vgpu.conf")  # Deployment's name
    helper = f"{os.path.join(services.BIN, 'privsep-helper')} --config-file {conf_path}"
    return (
        f"[agent]\nresource_provider_name = {HOST}\nenabled_drivers = nvidia_gpu_driver\n"
        f"sysfs_root = {root}\nreport_interval = 2\n"
        f"[gpu_devices]\nenabled_vgpu_types = nvidia-223\n"
        f"[vgpu_nvidia-223]\ndevice_addresses = {GPU}\n"
        f"[cyborg_privileged]\nhelper_command = {helper}\n"
    )


def _arq(deployment: services.Deployment, uuid: str) -> dict[str, Any]:
    return nova_calls.get_arq(deployment, uuid)


def _bind(deployment: services.Deployment, rp_uuid: str) -> str:
    """Nova's calls: a vGPU profile, its ARQ, the bind (answered at once: 202)."""
    response = requests.post(
        f"{deployment.endpoint}/device_profiles",
        json=[{"name": "vgpu", "groups": [{"resources:VGPU": "1"}]}],
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return nova_calls.create_and_bind(deployment, "vgpu", HOST, rp_uuid, INSTANCE, TOKEN)


def _kernel_made(root: pathlib.Path, uuid: str) -> None:
    """What the kernel does on that write: the mdev's directory, the type's link to it,
    one instance fewer available."""
    device = root / "sys/class/mdev_bus" / GPU / uuid
    device.mkdir()
    (device / "remove").write_text("")
    (_type_dir(root) / "devices").mkdir()
    (_type_dir(root) / "devices" / uuid).symlink_to(f"../../../{uuid}")
    (_type_dir(root) / "available_instances").write_text("7\n")


def test_binding_a_vgpu_creates_its_mdev_and_deleting_removes_it(root: pathlib.Path) -> None:
    with services.deployment(conductor_conf=AGENT_WAIT) as deployment:
        deployment.start("agent-vgpu", "agent", _agent_conf(deployment, root))
        ((rp_uuid,),) = deployment.wait_for(
            lambda: deployment.query(
                "SELECT rp_uuid FROM deployables WHERE name = :n", n=DEPLOYABLE
            ),
            60,
            "the agent's report of the fixture host",
        )

        arq = _bind(deployment, rp_uuid)
        bound = deployment.wait_for(
            lambda: (a := _arq(deployment, arq))["state"] in ("Bound", "BindFailed") and a,
            MDEV_WAIT + 60,
            "the bind",
        )
        assert bound["state"] == "Bound", deployment.log("conductor")[-3000:]
        assert bound["attach_handle_type"] == "MDEV"
        handle = bound["attach_handle_uuid"]
        assert bound["attach_handle_info"]["asked_type"] == "nvidia-223"
        # The daemon wrote the handle's uuid to the type's create file, and only there.
        assert (_type_dir(root) / "create").read_text() == handle
        assert (root / "sys/class/mdev_bus/0000:3b:00.0/mdev_supported_types/nvidia-223/create"
                ).read_text() == ""  # fmt: skip
        assert "Running privsep helper" in deployment.log("agent-vgpu")
        assert "Privileged helper started" in deployment.log("agent-vgpu")  # at start-up

        _kernel_made(root, handle)
        response = requests.delete(
            f"{deployment.endpoint}/accelerator_requests?instance={INSTANCE}",
            headers={"X-Auth-Token": TOKEN},
            timeout=60,
        )
        assert response.status_code == 204, response.text
        # Removed before the delete answered, then the handle was freed.
        assert (root / "sys/class/mdev_bus" / GPU / handle / "remove").read_text() == "1"
        assert deployment.query("SELECT in_use FROM attach_handles WHERE uuid = :u", u=handle) in (
            [(False,)],
            [(0,)],
        )
        assert f"Removing vGPU mdev {handle}" in deployment.log("agent-vgpu")


A100 = FIXTURE.parent / "nvidia-a100-mig"
A100_GPU = "0000:86:00.0"
MIG_BACKED_TYPE = "nvidia-699"


def _mig_backed_host(tmp_path: pathlib.Path) -> pathlib.Path:
    """The A100 host with MIG-backed type nvidia-699 ("GRID A100-3-20C", two GPU
    instances made) on the four VFs of 0000:86:00.0, one slot offered on each."""
    host = tmp_path / "a100"
    shutil.copytree(A100, host, symlinks=True)
    for fn in range(4, 8):
        type_dir = host / f"sys/class/mdev_bus/0000:86:00.{fn}/mdev_supported_types"
        type_dir = type_dir / MIG_BACKED_TYPE
        type_dir.mkdir()
        (type_dir / "name").write_text("GRID A100-3-20C\n")
        (type_dir / "description").write_text(
            "num_heads=1, frl_config=60, framebuffer=20480M, max_resolution=4096x2400, "
            "max_instance=2\n"
        )
        (type_dir / "available_instances").write_text("1\n")
        (type_dir / "device_api").write_text("vfio-pci\n")
        (type_dir / "create").write_text("")
    return host


def test_binding_a_mig_backed_vgpu_creates_its_mdev_on_a_vf(
    root: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    del root  # only for its check that the test runs as root
    host = _mig_backed_host(tmp_path)
    with services.deployment(conductor_conf=AGENT_WAIT) as deployment:
        conf_path = os.path.join(deployment.directory, "agent-vgpu.conf")
        helper = f"{os.path.join(services.BIN, 'privsep-helper')} --config-file {conf_path}"
        deployment.start(
            "agent-vgpu",
            "agent",
            f"[agent]\nresource_provider_name = {HOST}\nenabled_drivers = nvidia_gpu_driver\n"
            f"sysfs_root = {host}\nreport_interval = 2\n"
            f"[gpu_devices]\nenabled_vgpu_types = {MIG_BACKED_TYPE}\n"
            f"[vgpu_{MIG_BACKED_TYPE}]\ndevice_addresses = {A100_GPU}\n"
            f"[cyborg_privileged]\nhelper_command = {helper}\n",
        )
        ((rp_uuid, slots),) = deployment.wait_for(
            lambda: deployment.query(
                "SELECT rp_uuid, num_accelerators FROM deployables WHERE name = :n",
                n=f"{HOST}_{A100_GPU}",
            ),
            60,
            "the agent's report of the MIG-backed type",
        )
        assert slots == 2  # four VFs offer a slot each; the type's max_instance is 2
        response = requests.post(
            f"{deployment.endpoint}/device_profiles",
            json=[
                {
                    "name": "mig-vgpu",
                    "groups": [
                        {
                            "resources:VGPU": "1",
                            "trait:CUSTOM_NVIDIA_MIG_BACKED_VGPU": "required",
                        }
                    ],
                }
            ],
            timeout=30,
        )
        assert response.status_code == 201, response.text
        arq = nova_calls.create_and_bind(deployment, "mig-vgpu", HOST, rp_uuid, INSTANCE, TOKEN)
        bound = deployment.wait_for(
            lambda: (a := _arq(deployment, arq))["state"] in ("Bound", "BindFailed") and a,
            MDEV_WAIT + 60,
            "the bind",
        )
        assert bound["state"] == "Bound", deployment.log("conductor")[-3000:]
        assert bound["attach_handle_info"]["asked_type"] == MIG_BACKED_TYPE
        vf = "0000:86:00.{}".format(bound["attach_handle_info"]["function"])
        created = host / "sys/class/mdev_bus" / vf / "mdev_supported_types" / MIG_BACKED_TYPE
        assert (created / "create").read_text() == bound["attach_handle_uuid"]
