"""The agent's resource tracker reporting to a real conductor (fake:// transport)."""

import uuid
from collections.abc import Iterator
from typing import Any

import oslo_messaging
import pytest
from oslo_config import cfg

import cyborg.conf
from cyborg.agent import drivers as agent_drivers
from cyborg.agent.resource_tracker import ResourceTracker
from cyborg.common import context as cyborg_context
from cyborg.conductor import rpcapi
from cyborg.conductor import server as conductor_server
from cyborg.conf import opts
from cyborg.drivers.base import Driver
from cyborg.objects import device as device_obj
from tests.db.test_inventory_reports import gpu


class ListDriver(Driver):
    """A driver whose inventory a test sets (the vendor drivers have their own tests)."""

    name = "list"

    def __init__(self, devices: list[Any]) -> None:
        super().__init__(None)
        self.devices = devices
        self.fail = False

    def discover(self) -> list[Any]:
        if self.fail:
            raise OSError("sysfs went away")
        return list(self.devices)


@pytest.fixture
def conductor(db) -> Iterator[rpcapi.ConductorAPI]:  # type: ignore[no-untyped-def]
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    opts.set_lib_defaults(conf)
    conf([], project="cyborg")
    oslo_messaging.TransportURL.parse(conf)
    conf.set_override("transport_url", f"fake:///{uuid.uuid4().hex}")
    server = conductor_server.start(conf, background=False)
    try:
        yield rpcapi.ConductorAPI(conf)
    finally:
        conductor_server.stop(conf, server)


def test_reports_send_devices_only_when_they_changed(db, conductor) -> None:  # type: ignore[no-untyped-def]
    driver = ListDriver([gpu(1), gpu(2)])
    tracker = ResourceTracker("host-a", [driver], conductor)
    context = cyborg_context.get_admin_context()
    assert tracker.report(context)["changed"] is True
    with db.count_statements() as statements:
        assert tracker.report(context) == {"changed": False}  # fingerprint only
    assert not [
        s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    driver.devices.append(gpu(3))
    assert tracker.report(context)["changed"] is True
    assert len(device_obj.get_all(db.context, hostname="host-a")) == 3


def test_a_restarted_agent_or_a_forgetful_conductor_duplicates_nothing(db, conductor) -> None:  # type: ignore[no-untyped-def]
    context = cyborg_context.get_admin_context()
    ResourceTracker("host-a", [ListDriver([gpu(1)])], conductor).report(context)
    restarted = ResourceTracker("host-a", [ListDriver([gpu(1)])], conductor)
    assert restarted.report(context)["changed"] is False  # no ack yet: sends devices
    with db.engine.begin() as connection:  # the conductor's record is lost
        connection.exec_driver_sql("UPDATE hosts SET inventory_fingerprint = NULL")
    assert restarted.report(context)["changed"] is True  # asked again, stored again
    assert len(device_obj.get_all(db.context)) == 1


def test_a_failing_driver_reports_nothing(db, conductor) -> None:  # type: ignore[no-untyped-def]
    context = cyborg_context.get_admin_context()
    good, bad = ListDriver([gpu(1)]), ListDriver([gpu(2)])
    tracker = ResourceTracker("host-a", [good, bad], conductor)
    tracker.report(context)
    bad.fail = True
    assert tracker.report(context) is None
    assert len(device_obj.get_all(db.context, hostname="host-a")) == 2  # nothing removed


def test_an_unknown_driver_name_stops_the_agent() -> None:
    with pytest.raises(agent_drivers.UnknownDriver) as err:
        agent_drivers.load(None, ["no_such_driver"], "/", "h")
    assert "nvidia_gpu_driver" in err.value.message
