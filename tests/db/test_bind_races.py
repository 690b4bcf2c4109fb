"""A device removed by its agent's report while an ARQ is being bound to it.

Both orders, with real row locks (MariaDB, PostgreSQL): the report that locked
first removes the device and the bind fails cleanly (BindFailed, a 409 reason); the
bind that locked first keeps the device, and the report holds it back. Nothing is
left half-written either way.
"""

import threading
import time

import pytest

from cyborg.common import constants, exception
from cyborg.common import context as cyborg_context
from cyborg.conductor.binding import bind_flow, device_profiles
from cyborg.conductor.inventory import diff, reports
from cyborg.db import api as db_api
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import device as device_obj
from cyborg.objects import host as host_obj
from cyborg.objects import host_inventory
from tests import binders
from tests.db import seed
from tests.db.test_inventory_reports import _conf

State = constants.ARQState
INSTANCE = "6f9c1d2e-8a7b-4c3d-9e0f-1a2b3c4d5e6f"
PAUSE = 1.0  # how long the first transaction holds its locks


@pytest.fixture
def binding(db):  # type: ignore[no-untyped-def]
    if db.backend == "sqlite":
        pytest.skip("SQLite is the all-in-one's database: one conductor, one writer")
    deployable = seed.bindable_deployable(db.context, handles=1, host="host-a")
    device_profiles.create_device_profile(db.context, name="gpu", groups=[{"resources:PGPU": "1"}])
    (arq,) = binders.binder().create(db.context, device_profile_name="gpu", project_id="p")
    arq_obj.update_state(
        db.context, arq, expected={State.INITIAL}, new_state=State.BIND_STARTED,
        hostname="host-a", device_rp_uuid=deployable.rp_uuid, instance_uuid=INSTANCE,
    )  # fmt: skip
    return deployable, arq


def test_a_report_that_locked_first_removes_the_device_and_the_bind_fails(db, binding) -> None:  # type: ignore[no-untyped-def]
    deployable, arq = binding
    loaded = threading.Event()
    errors: list[BaseException] = []

    def report_removing_everything() -> None:
        context = cyborg_context.get_admin_context()
        try:
            host_obj.create_if_missing(context, "host-a")
            with db_api.context_manager.writer.using(context):
                host_obj.lock(context, "host-a")
                stored = host_inventory.load(context, "host-a")
                loaded.set()
                time.sleep(PAUSE)  # the bind starts now and has to wait
                host_inventory.apply(context, "host-a", diff.plan(stored, []))
        except BaseException as err:
            errors.append(err)
            loaded.set()

    thread = threading.Thread(target=report_removing_everything)
    thread.start()
    loaded.wait()
    with pytest.raises(exception.DeviceRemovedDuringBind) as raised:
        bind_flow._finish_bind(
            binders.binder(),
            cyborg_context.get_admin_context(),
            arq_obj.get_by_uuid(db.context, arq),
            deployable.rp_uuid,
            False,
        )
    thread.join()
    assert errors == []
    assert raised.value.code == 409
    failed = arq_obj.get_by_uuid(db.context, arq)
    assert failed.state == State.BIND_FAILED
    assert "removed during the bind" in (failed.bind_failure_reason or "")
    assert (failed.attach_handle_id, failed.deployable_id) == (None, None)
    assert device_obj.get_all(db.context, hostname="host-a") == []


def test_a_bind_that_locked_first_keeps_the_device_and_the_report_holds_it_back(
    db, binding
) -> None:  # type: ignore[no-untyped-def]
    deployable, arq = binding
    claimed = threading.Event()
    errors: list[BaseException] = []

    def bind() -> None:
        context = cyborg_context.get_admin_context()
        try:
            with db_api.context_manager.writer.using(context):
                arq_obj.attach_free_handle(context, arq, deployable_id=deployable.id)
                claimed.set()
                time.sleep(PAUSE)  # the report starts now and has to wait
        except BaseException as err:
            errors.append(err)
            claimed.set()

    thread = threading.Thread(target=bind)
    thread.start()
    claimed.wait()
    answer = reports.report_inventory(
        _conf(), cyborg_context.get_admin_context(), "host-a", "empty", devices=[]
    )
    thread.join()
    assert errors == []
    assert answer["changed"] is True and answer["fingerprint"] is None  # re-planned later
    assert arq_obj.get_by_uuid(db.context, arq).state == State.BOUND
    assert len(device_obj.get_all(db.context, hostname="host-a")) == 1
