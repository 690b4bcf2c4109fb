"""Agent reports applied by the conductor's report flow, on every backend."""

import dataclasses
import datetime
import threading
import uuid as uuidlib

import sqlalchemy as sa
from oslo_config import cfg

import cyborg.conf
from cyborg.common import context as cyborg_context
from cyborg.common import inventory
from cyborg.conductor.inventory import reports
from cyborg.db import models
from cyborg.objects import device as device_obj
from cyborg.objects import host as host_obj
from cyborg.objects import host_inventory
from tests.db import seed

WRITES = ("INSERT", "UPDATE", "DELETE")


def _conf() -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([], project="cyborg")
    return conf


def gpu(
    bus: int, *, count: int = 1, trait: str = "CUSTOM_NVIDIA_20B0", host: str = "host-a"
) -> inventory.DeviceReport:
    address = f"0000:{bus:02x}:00.0"
    handles = tuple(
        inventory.AttachHandleReport(
            "PCI", inventory.canonical_json(inventory.pci_address_info(f"0000:{bus:02x}:00.{f}"))
        )
        for f in range(count)
    )
    return inventory.DeviceReport(
        type="GPU",
        vendor="10de",
        model="A100",
        controlpath=inventory.canonical_json(inventory.pci_address_info(address)),
        deployables=(
            inventory.DeployableReport(
                name=f"{host}_{address}",
                num_accelerators=count,
                resource_class="PGPU",
                driver_name="nvidia",
                traits=("OWNER_CYBORG", trait),
                attributes=(("memory_mb", "40960"), ("numa_node", "0")),
                attach_handles=handles,
            ),
        ),
    )


def report(db, devices, *, fingerprint_only: bool = False, host: str = "host-a"):  # type: ignore[no-untyped-def]
    fp = inventory.fingerprint(devices)
    return reports.report_inventory(
        _conf(),
        db.context,
        host,
        fp,
        None if fingerprint_only else inventory.to_primitive(devices),
    )


def _by_path(devices):  # type: ignore[no-untyped-def]
    return sorted(devices, key=lambda d: d.controlpath)


def _table_counts(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with db.engine.connect() as connection:
        return {
            t: connection.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
            for t in ("devices", "controlpath_ids", "deployables", "attributes", "attach_handles")
        }


def test_first_report_stores_the_tree_and_a_repeat_writes_nothing(db) -> None:  # type: ignore[no-untyped-def]
    devices = [gpu(0x3B, count=2), gpu(0x5E)]
    assert report(db, devices)["changed"] is True
    assert _table_counts(db) == {
        "devices": 2,
        "controlpath_ids": 2,
        "deployables": 2,
        "attributes": 10,
        "attach_handles": 3,
    }
    stored = host_inventory.load(db.context, "host-a")
    assert _by_path(d.report for d in stored.values()) == _by_path(devices)  # round trip
    with db.engine.connect() as connection:
        rps = dict(connection.execute(sa.text("SELECT name, rp_uuid FROM deployables")).all())
    assert rps["host-a_0000:3b:00.0"] == host_inventory.provider_uuid("host-a_0000:3b:00.0")

    with db.count_statements() as statements:
        assert report(db, devices) == {
            "changed": False,
            "fingerprint": inventory.fingerprint(devices),
        }
        assert report(db, devices, fingerprint_only=True) == {"changed": False}
    assert not [s for s in statements if s.lstrip().upper().startswith(WRITES)], statements
    assert len(statements) <= 4  # one locked read of the host row per report


def test_a_fingerprint_the_conductor_does_not_hold_asks_for_the_devices(db) -> None:  # type: ignore[no-untyped-def]
    assert report(db, [gpu(1)], fingerprint_only=True) == {"need_inventory": True}
    report(db, [gpu(1)])
    assert report(db, [gpu(1), gpu(2)], fingerprint_only=True) == {"need_inventory": True}


def test_changes_are_applied(db) -> None:  # type: ignore[no-untyped-def]
    report(db, [gpu(1), gpu(2, count=2), gpu(3)])
    changed = [gpu(1, trait="CUSTOM_NVIDIA_2330"), gpu(2, count=1), gpu(4)]
    assert report(db, changed)["changed"] is True
    stored = host_inventory.load(db.context, "host-a")
    assert _by_path(d.report for d in stored.values()) == _by_path(changed)
    assert _table_counts(db)["attach_handles"] == 3
    assert report(db, changed)["changed"] is False


def test_changing_many_devices_costs_a_fixed_number_of_statements(db) -> None:  # type: ignore[no-untyped-def]
    counts = []
    for size, first_bus in ((5, 0), (100, 0x80)):
        report(db, [gpu(first_bus + i) for i in range(size)], host=f"h{size}")
        new = [gpu(first_bus + i, count=2) for i in range(size)]
        new += [gpu(first_bus + size + i) for i in range(size // 5)]
        with db.count_statements() as statements:
            report(db, new, host=f"h{size}")
        counts.append(len(statements))
    assert counts[0] == counts[1], counts


def test_a_vanished_device_that_is_bound_is_kept(db) -> None:  # type: ignore[no-untyped-def]
    seed.devices(db.engine, 1, hosts=1)  # device on host0 with a handle...
    seed.bound_arqs(db.engine, 1)  # ...held by an ARQ
    host = "host0"
    with db.engine.begin() as connection:
        path = connection.execute(sa.text("SELECT cpid_info FROM controlpath_ids")).scalar_one()
    result = reports.report_inventory(_conf(), db.context, host, "fp-empty", [])
    assert result == {"changed": True, "fingerprint": None}  # re-planned next time
    assert len(device_obj.get_all(db.context, hostname=host)) == 1
    assert path in host_inventory.load(db.context, host)


def test_silent_hosts_become_stale_and_come_back(db) -> None:  # type: ignore[no-untyped-def]
    report(db, [gpu(1)])
    report(db, [gpu(2)], host="host-b")
    old = datetime.datetime(2020, 1, 1)
    with db.engine.begin() as connection:
        connection.execute(
            sa.update(models.Host).where(models.Host.hostname == "host-a").values(last_seen_at=old)
        )
    assert reports.mark_silent_hosts_stale(_conf(), db.context) == ["host-a"]
    states = {h.hostname: h.state for h in host_obj.get_all(db.context)}
    assert states == {"host-a": "stale", "host-b": "up"}
    assert len(device_obj.get_all(db.context, hostname="host-a")) == 1  # devices kept
    report(db, [gpu(1)], fingerprint_only=True)
    assert {h.hostname: h.state for h in host_obj.get_all(db.context)}["host-a"] == "up"


def test_two_conductors_reporting_one_host_at_once_store_it_once(db) -> None:  # type: ignore[no-untyped-def]
    devices = [gpu(i) for i in range(1, 6)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def conductor() -> None:
        barrier.wait()
        try:
            reports.report_inventory(
                _conf(),
                cyborg_context.get_admin_context(),
                "host-a",
                inventory.fingerprint(devices),
                inventory.to_primitive(devices),
            )
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=conductor) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert _table_counts(db)["devices"] == 5
    assert len(host_obj.get_all(db.context)) == 1


def test_many_hosts_reporting_for_the_first_time_at_once_are_all_stored(db) -> None:  # type: ignore[no-untyped-def]
    # On MariaDB, creating host rows under a locking read deadlocked (gap locks); on
    # SQLite, deferred transactions failed "database is locked" instead of waiting.
    hosts = [f"first-{uuidlib.uuid4().hex[:8]}" for _ in range(12)]
    barrier = threading.Barrier(len(hosts))
    errors: list[BaseException] = []

    def agent(hostname: str) -> None:
        devices = [gpu(i, host=hostname) for i in range(1, 4)]
        barrier.wait()
        try:
            reports.report_inventory(
                _conf(),
                cyborg_context.get_admin_context(),
                hostname,
                inventory.fingerprint(devices),
                inventory.to_primitive(devices),
            )
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=agent, args=(host,)) for host in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert sorted(h.hostname for h in host_obj.get_all(db.context)) == sorted(hosts)
    assert _table_counts(db)["devices"] == 3 * len(hosts)


def test_primitive_round_trip_keeps_reports_equal() -> None:
    devices = [gpu(1, count=3)]
    assert inventory.from_primitive(inventory.to_primitive(devices)) == devices
    shuffled = [dataclasses.replace(gpu(2)), gpu(1)]
    assert inventory.fingerprint(shuffled) == inventory.fingerprint(list(reversed(shuffled)))


def test_spdk_control_paths_are_stored_with_their_type(db) -> None:  # type: ignore[no-untyped-def]
    nvmf = inventory.DeviceReport(
        type="SSD",
        vendor="SPDK",
        model="SPDK bdev Controller",
        controlpath=inventory.canonical_json(
            {"nqn": "nqn.2016-06.io.spdk:cnode1", "type": "NVMF"}
        ),
        deployables=(
            inventory.DeployableReport(
                name="host-a_nqn.2016-06.io.spdk:cnode1",
                num_accelerators=1,
                resource_class="CUSTOM_NVME_OF",
                driver_name="spdk",
            ),
        ),
    )
    report(db, [nvmf, gpu(1)])
    with db.engine.connect() as connection:
        kinds = sorted(
            connection.execute(sa.text("SELECT cpid_type FROM controlpath_ids")).scalars()
        )
    assert kinds == ["NVMF", "PCI"]


def test_unchanged_reports_with_liveness_due_write_nothing_until_the_flush(db) -> None:  # type: ignore[no-untyped-def]
    """With SeenHosts a due liveness is noted, and written for every host in one
    statement by the periodic task; a host back from stale is written at once."""
    seen = reports.SeenHosts()
    hosts = ["host-a", "host-b", "host-c"]
    for host in hosts:
        report(db, [gpu(1, host=host)], host=host)
    old = datetime.datetime(2020, 1, 1)
    with db.engine.begin() as connection:  # long ago: liveness is due for all
        connection.execute(sa.update(models.Host).values(last_seen_at=old))
        connection.execute(
            sa.update(models.Host).where(models.Host.hostname == "host-c").values(state="stale")
        )
    with db.count_statements() as statements:
        for host in hosts[:2]:
            fp = inventory.fingerprint([gpu(1, host=host)])
            answer = reports.report_inventory(_conf(), db.context, host, fp, None, seen=seen)
            assert answer == {"changed": False}
    assert [s for s in statements if s.split()[0] in WRITES] == []
    with db.count_statements() as statements:
        assert seen.flush(db.context) == 2
    assert [s.split()[0] for s in statements if s.split()[0] in WRITES] == ["UPDATE"]
    fp = inventory.fingerprint([gpu(1, host="host-c")])
    reports.report_inventory(_conf(), db.context, "host-c", fp, None, seen=seen)  # back
    moved = {h.hostname: (h.last_seen_at > old, h.state) for h in host_obj.get_all(db.context)}
    assert moved == {"host-a": (True, "up"), "host-b": (True, "up"), "host-c": (True, "up")}
    assert seen.flush(db.context) == 0
