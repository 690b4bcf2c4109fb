"""What the Placement sync reads from the database, on every backend."""

import dataclasses

from oslo_config import cfg

import cyborg.conf
from cyborg.common import constants, inventory
from cyborg.conductor.inventory import reports
from cyborg.conductor.placement import changes
from cyborg.drivers import fake
from cyborg.objects import device as device_obj
from cyborg.objects import provider as provider_obj
from cyborg.objects.host_inventory import provider_uuid


def _store(db, hostname: str) -> None:  # type: ignore[no-untyped-def]
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([], project="cyborg")
    devices = fake.default_inventory(hostname)
    reports.report_inventory(
        conf, db.context, hostname, inventory.fingerprint(devices), inventory.to_primitive(devices)
    )


def test_each_deployable_with_its_class_traits_and_status(db) -> None:  # type: ignore[no-untyped-def]
    _store(db, "host-a")
    _store(db, "host-b")
    board = next(
        d for d in device_obj.get_all(db.context, hostname="host-a") if d.model == "FakeDevice"
    )
    device_obj.update(db.context, board.uuid, status=constants.DeviceStatus.MAINTAINING)

    with db.count_statements() as statements:
        providers = provider_obj.load(db.context, "host-a")
    assert len(statements) == 2
    assert providers == [
        provider_obj.DeployableProvider(
            name="host-a_FakeDevice",
            rp_uuid=provider_uuid("host-a_FakeDevice"),
            num_accelerators=16,
            resource_class="FPGA",
            traits=("CUSTOM_FAKE_DEVICE",),
            disabled=True,
        ),
        *(
            provider_obj.DeployableProvider(
                name=f"host-a_FakeGPU{i}",
                rp_uuid=provider_uuid(f"host-a_FakeGPU{i}"),
                num_accelerators=1,
                resource_class="PGPU",
                traits=("OWNER_CYBORG", "CUSTOM_FAKE_GPU"),
                disabled=False,
            )
            for i in (0, 1)
        ),
    ]
    assert provider_obj.load(db.context, "host-c") == []
    assert provider_obj.hostnames(db.context) == ["host-a", "host-b"]


def _report(db, hostname: str, devices: list[inventory.DeviceReport]) -> None:  # type: ignore[no-untyped-def]
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([], project="cyborg")
    reports.report_inventory(
        conf, db.context, hostname, inventory.fingerprint(devices), inventory.to_primitive(devices)
    )


def _gpu_health(device: inventory.DeviceReport, *pairs: tuple[str, str]) -> inventory.DeviceReport:
    (deployable,) = device.deployables
    attributes = tuple(sorted({**dict(deployable.attributes), **dict(pairs)}.items()))
    return dataclasses.replace(
        device, deployables=(dataclasses.replace(deployable, attributes=attributes),)
    )


def _reserved(db, hostname: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    wanted, _ = changes.desired_providers(provider_obj.load(db.context, hostname))
    return {p.name.removeprefix(f"{hostname}_"): p.reserved for p in wanted}


def test_health_reserves_a_provider_and_recovery_frees_it(db) -> None:  # type: ignore[no-untyped-def]
    board, gpu0, gpu1 = fake.default_inventory("host-h")
    _report(db, "host-h", [board, gpu0, gpu1])
    assert _reserved(db, "host-h") == {"FakeDevice": 0, "FakeGPU0": 0, "FakeGPU1": 0}

    sick = _gpu_health(
        gpu0, (inventory.ATTR_HEALTH, "fatal"), (inventory.ATTR_HEALTH_REASON, "XID 79")
    )
    odd = _gpu_health(gpu1, (inventory.ATTR_HEALTH, "Unhealthy"))  # any case
    _report(db, "host-h", [board, sick, odd])
    with db.count_statements() as statements:
        providers = provider_obj.load(db.context, "host-h")
    assert len(statements) == 2
    assert [p.healthy for p in providers] == [True, False, False]
    assert _reserved(db, "host-h") == {"FakeDevice": 0, "FakeGPU0": 1, "FakeGPU1": 1}

    _report(db, "host-h", [board, gpu0, _gpu_health(gpu1, (inventory.ATTR_HEALTH, "healthy"))])
    assert _reserved(db, "host-h") == {"FakeDevice": 0, "FakeGPU0": 0, "FakeGPU1": 0}
