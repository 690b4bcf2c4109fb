"""One DRA driver's devices and their health (cyborg.kubernetes.dra.driver_devices)."""

import dataclasses

from cyborg.drivers import fake
from cyborg.kubernetes.devices import PluginDevice
from cyborg.kubernetes.dra import driver_devices
from cyborg.kubernetes.dra.driver_devices import DriverDevices, Health

A = PluginDevice("0000:3b:00.0", "d.io/gpu", "GPU", "dep-a")
B = PluginDevice("0000:5e:00.0", "d.io/gpu", "GPU", "dep-b")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_fake_host_gives_one_driver_per_kind() -> None:
    found = driver_devices.by_driver(fake.default_inventory("node"), "d.io", ["GPU", "FPGA"])
    assert sorted(found) == ["fpga.d.io", "gpu.d.io"]
    assert [d.id for d in found["gpu.d.io"]] == ["0000:0d:00.0", "0000:0e:00.0"]


def test_health_keeps_its_time_until_it_changes_and_gone_devices_are_unknown() -> None:
    clock = Clock()
    devices = DriverDevices(clock)
    assert devices.replace([A, B], {A.id: ("/dev/vfio/1",)})
    assert devices.get("pci-0000-3b-00-0") == A
    assert devices.nodes(A.id) == ("/dev/vfio/1",) and devices.nodes(B.id) == ()
    clock.now = 200.0
    assert not devices.replace([A, B], {A.id: ("/dev/vfio/1",)})  # nothing changed
    assert devices.replace([A, dataclasses.replace(B, healthy=False)], {})
    version, health = devices.health()
    assert health == {
        "pci-0000-3b-00-0": Health("HEALTHY", 100),
        "pci-0000-5e-00-0": Health("UNHEALTHY", 200),
    }
    clock.now = 300.0
    assert devices.replace([A], {})
    later, health = devices.health()
    assert later == version + 1
    assert health["pci-0000-5e-00-0"] == Health("UNKNOWN", 300)
    assert devices.get("pci-0000-5e-00-0") is None
    clock.now = 400.0
    assert devices.replace([A, B], {})  # back, and healthy
    assert devices.health()[1]["pci-0000-5e-00-0"] == Health("HEALTHY", 400)
