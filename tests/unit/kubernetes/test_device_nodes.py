"""Device nodes of PCI functions, from recorded sysfs trees (cyborg.kubernetes.device_nodes)."""

import os

from cyborg.kubernetes import device_nodes

HOSTS = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "hosts")


def test_nvme_controllers_and_namespaces_of_the_recorded_host() -> None:
    root = os.path.join(HOSTS, "nvme-2disks")
    assert device_nodes.candidates(root, "0000:3b:00.0") == ["/dev/nvme0", "/dev/nvme0n1"]
    assert device_nodes.device_nodes(root, "0000:3b:00.0") == []  # no /dev recorded
    assert device_nodes.candidates(root, "0000:00:00.0") == []  # a host bridge


def test_vfio_nvidia_and_drm(tmp_path: object) -> None:
    root = str(tmp_path)
    vfio = os.path.join(root, "sys/bus/pci/devices/0000:af:00.0")
    os.makedirs(vfio)
    os.symlink("/x/drivers/vfio-pci", os.path.join(vfio, "driver"))
    os.symlink("/x/iommu_groups/7", os.path.join(vfio, "iommu_group"))
    gpu = os.path.join(root, "sys/bus/pci/devices/0000:3b:00.0")
    os.makedirs(os.path.join(gpu, "drm/card1"))
    os.makedirs(os.path.join(gpu, "drm/renderD129"))
    os.symlink("/x/drivers/nvidia", os.path.join(gpu, "driver"))
    info = os.path.join(root, "proc/driver/nvidia/gpus/0000:3b:00.0")
    os.makedirs(info)
    with open(os.path.join(info, "information"), "w") as handle:
        handle.write("Model: \t\t NVIDIA A100\nDevice Minor: \t 3\n")
    assert device_nodes.candidates(root, "0000:af:00.0") == ["/dev/vfio/vfio", "/dev/vfio/7"]
    assert device_nodes.candidates(root, "0000:3b:00.0") == [
        "/dev/nvidia3", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools",
        "/dev/dri/card1", "/dev/dri/renderD129",
    ]  # fmt: skip
    os.makedirs(os.path.join(root, "dev/vfio"))
    open(os.path.join(root, "dev/vfio/7"), "w").close()
    assert device_nodes.device_nodes(root, "0000:af:00.0") == ["/dev/vfio/7"]
