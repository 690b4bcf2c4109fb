"""How many ARQs one request creates and one project holds, on every backend: a
refused request writes nothing, and racing requests never leave a project over its
quota."""

import threading

import pytest

from cyborg.common import context as cyborg_context
from cyborg.common import exception
from cyborg.conductor.binding import arqs, device_profiles
from cyborg.objects import accelerator_request as arq_obj
from tests import binders

LIMITS = arqs.ARQLimits(per_request=6, per_project=8)


def _count(db, project_id: str) -> int:  # type: ignore[no-untyped-def]
    return arq_obj.count_in_project(db.context, project_id)


def test_a_profile_stored_before_the_limit_creates_no_arq(db) -> None:  # type: ignore[no-untyped-def]
    # As in the hardening issue: 999,999 units of each class in each group (16 of 16
    # here; 64 of 64 do not fit a TEXT column on MariaDB).
    classes = ["PGPU", "FPGA", "VGPU", *(f"CUSTOM_C{n}" for n in range(13))]
    device_profiles.create_device_profile(
        db.context, name="million", groups=[{f"resources:{rc}": "999999" for rc in classes}] * 16
    )
    with pytest.raises(exception.Invalid) as refused:
        binders.binder(arq_limits=LIMITS).create(
            db.context, device_profile_name="million", project_id="p1"
        )
    assert refused.value.code == 400
    assert "makes 255999744 accelerator requests" in refused.value.message
    assert arq_obj.get_all(db.context) == []


def test_the_project_quota_is_a_403_and_writes_nothing(db) -> None:  # type: ignore[no-untyped-def]
    device_profiles.create_device_profile(
        db.context, name="three", groups=[{"resources:PGPU": "2"}, {"resources:FPGA": "1"}]
    )
    binder = binders.binder(arq_limits=LIMITS)
    for _ in range(2):
        binder.create(db.context, device_profile_name="three", project_id="p1")
    with pytest.raises(exception.QuotaExceeded) as refused:
        binder.create(db.context, device_profile_name="three", project_id="p1")
    assert refused.value.code == 403
    assert refused.value.message == (
        "Quota exceeded for project p1: accelerator_requests limit 8, usage 6, requested 3"
    )
    assert _count(db, "p1") == 6
    assert len(binder.create(db.context, device_profile_name="three", project_id="p2")) == 3
    # Without a limit (the default binder), nothing is counted.
    assert len(binders.binder().create(db.context, device_profile_name="three", project_id="p1"))


def test_racing_creates_never_leave_a_project_over_its_quota(db) -> None:  # type: ignore[no-untyped-def]
    device_profiles.create_device_profile(db.context, name="one", groups=[{"resources:PGPU": "1"}])
    binder = binders.binder(arq_limits=arqs.ARQLimits(per_project=3))
    attempts = 8
    start = threading.Barrier(attempts)
    created: list[str] = []
    refused: list[BaseException] = []
    lock = threading.Lock()

    def create() -> None:
        context = cyborg_context.get_admin_context()
        start.wait()
        try:
            uuids = binder.create(context, device_profile_name="one", project_id="p1")
        except BaseException as err:  # collected, checked below
            with lock:
                refused.append(err)
            return
        with lock:
            created.extend(uuids)

    threads = [threading.Thread(target=create) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(err, exception.QuotaExceeded) for err in refused), refused
    assert len(created) + len(refused) == attempts
    # What was answered is what is stored: the losers deleted their ARQs.
    assert sorted(arq.uuid for arq in arq_obj.get_all(db.context)) == sorted(created)
    # At most the quota; possibly fewer: requests that all recheck after all inserted
    # see the project over it and all give up (as two racing standalone binds may).
    assert len(created) <= 3
