"""Behaviour of the data-access layer on every backend."""

import threading

import pytest
import sqlalchemy as sa

from cyborg.common import constants, exception
from cyborg.db import models
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import attach_handle as handle_obj
from cyborg.objects import attribute as attribute_obj
from cyborg.objects import controlpath as controlpath_obj
from cyborg.objects import deployable as deployable_obj
from cyborg.objects import device as device_obj
from cyborg.objects import device_profile as profile_obj
from cyborg.objects import graph as graph_obj
from cyborg.objects import pagination
from tests.db import seed


def _device(db, host: str = "host1", bus: int = 1):  # type: ignore[no-untyped-def]
    device = device_obj.create(db.context, type="FPGA", vendor="8086", model="PAC", hostname=host)
    controlpath_obj.create(
        db.context, device_id=device.id, cpid_type="PCI", cpid_info=seed.pci(bus)
    )
    return device


def _profile(db, name: str = "fpga", project_id: str | None = None):  # type: ignore[no-untyped-def]
    return profile_obj.create(
        db.context, name=name, groups=[{"resources:FPGA": "1"}], project_id=project_id
    )


# --- devices and their natural keys -------------------------------------------------


def test_device_at_same_address_of_same_host_is_a_conflict(db) -> None:  # type: ignore[no-untyped-def]
    _device(db, "host1", bus=1)
    _device(db, "host2", bus=1)  # same address, other host: fine
    with pytest.raises(exception.DuplicateEntry) as err:
        _device(db, "host1", bus=1)
    assert err.value.code == 409


def test_device_filters_and_status_update(db) -> None:  # type: ignore[no-untyped-def]
    first = _device(db, "host1", 1)
    _device(db, "host2", 2)
    assert [d.uuid for d in device_obj.get_all(db.context, hostname="host1")] == [first.uuid]
    assert device_obj.get_all(db.context, vendor="nope") == []
    # A type outside the enum matches nothing (PostgreSQL would refuse to compare it).
    assert device_obj.get_all(db.context, device_type="fake_type") == []
    updated = device_obj.update(db.context, first.uuid, status="maintaining")
    assert updated.status == "maintaining"
    assert device_obj.get_by_uuid(db.context, first.uuid).updated_at is not None
    with pytest.raises(exception.DeviceNotFound):
        device_obj.get_by_uuid(db.context, "00000000-0000-0000-0000-000000000000")


def test_device_type_outside_enum_is_refused_by_the_database(db) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Exception), db.engine.begin() as connection:  # noqa: B017
        connection.execute(
            sa.insert(models.Device),
            [
                {
                    "uuid": "u",
                    "type": "TOASTER",
                    "vendor": "v",
                    "model": "m",
                    "hostname": "h",
                    "status": "enabled",
                    "created_at": sa.func.now(),
                }
            ],
        )


def test_deleting_a_device_removes_its_tree(db) -> None:  # type: ignore[no-untyped-def]
    seed.devices(db.engine, 2)
    doomed = device_obj.get_all(db.context, page=pagination.PageRequest(sort_key="id"))[0]
    device_obj.delete(db.context, doomed.uuid)
    assert len(device_obj.get_all(db.context)) == 1
    assert len(deployable_obj.get_all(db.context)) == 1
    assert len(attribute_obj.get_all(db.context)) == 3
    assert len(handle_obj.get_all(db.context)) == 1


def test_device_with_a_bound_arq_cannot_be_deleted(db) -> None:  # type: ignore[no-untyped-def]
    seed.devices(db.engine, 1)
    seed.bound_arqs(db.engine, 1)
    device = device_obj.get_all(db.context)[0]
    with pytest.raises(exception.InUse) as err:
        device_obj.delete(db.context, device.uuid)
    assert err.value.code == 409
    assert device_obj.get_by_uuid(db.context, device.uuid)


# --- deployables and attributes -----------------------------------------------------


def test_deployable_name_unique_per_device_and_attribute_key_unique(db) -> None:  # type: ignore[no-untyped-def]
    device = _device(db)
    dep = deployable_obj.create(db.context, name="d0", num_accelerators=1, device_id=device.id)
    with pytest.raises(exception.DuplicateEntry):
        deployable_obj.create(db.context, name="d0", num_accelerators=2, device_id=device.id)
    attribute_obj.create(db.context, deployable_id=dep.id, key="rc", value="FPGA")
    with pytest.raises(exception.DuplicateEntry):
        attribute_obj.create(db.context, deployable_id=dep.id, key="rc", value="PGPU")
    with pytest.raises(exception.DeployableNotFound):
        attribute_obj.create(db.context, deployable_id=dep.id + 999, key="k", value="v")
    found = deployable_obj.get_by_uuid(db.context, dep.uuid)
    assert [(a.key, a.value) for a in found.attributes] == [("rc", "FPGA")]
    rp = deployable_obj.update(
        db.context, dep.uuid, rp_uuid="11111111-2222-3333-4444-555555555555"
    )
    assert deployable_obj.get_by_rp_uuid(db.context, rp.rp_uuid).uuid == dep.uuid


def test_attribute_delete(db) -> None:  # type: ignore[no-untyped-def]
    device = _device(db)
    dep = deployable_obj.create(db.context, name="d0", num_accelerators=1, device_id=device.id)
    attr = attribute_obj.create(db.context, deployable_id=dep.id, key="trait0", value="CUSTOM_X")
    attribute_obj.delete(db.context, attr.uuid)
    with pytest.raises(exception.AttributeNotFound):
        attribute_obj.delete(db.context, attr.uuid)


# --- device profiles ----------------------------------------------------------------


def test_profile_name_conflict_is_409_and_names_the_profile(db) -> None:  # type: ignore[no-untyped-def]
    _profile(db, "gpu")
    with pytest.raises(exception.DeviceProfileNameConflict) as err:
        _profile(db, "gpu")
    assert err.value.code == 409 and "gpu" in err.value.message
    first = profile_obj.get_by_name(db.context, "gpu")
    with pytest.raises(exception.DuplicateEntry):
        profile_obj.create(db.context, name="other", groups=[], uuid=first.uuid)


def test_profiles_are_visible_to_their_project_and_shared_ones(db) -> None:  # type: ignore[no-untyped-def]
    _profile(db, "shared")
    _profile(db, "mine", project_id="p1")
    _profile(db, "theirs", project_id="p2")
    names = {p.name for p in profile_obj.get_all(db.context, visible_to_project="p1")}
    assert names == {"shared", "mine"}
    assert len(profile_obj.get_all(db.context)) == 3
    with pytest.raises(exception.DeviceProfileNotFound):
        profile_obj.get_by_name(db.context, "theirs", visible_to_project="p1")
    with pytest.raises(exception.DeviceProfileNotFound):  # shared ones are the admin's to delete
        profile_obj.delete_by_names(db.context, ["shared"], visible_to_project="p1")


def test_delete_profiles_by_names_is_all_or_nothing(db) -> None:  # type: ignore[no-untyped-def]
    _profile(db, "a")
    _profile(db, "b")
    with pytest.raises(exception.DeviceProfileNotFound) as err:
        profile_obj.delete_by_names(db.context, ["a", "missing", "b"])
    assert "missing" in err.value.message
    assert {p.name for p in profile_obj.get_all(db.context)} == {"a", "b"}
    profile_obj.delete_by_names(db.context, ["a", "b"])
    assert profile_obj.get_all(db.context) == []


def test_profile_deletable_while_arqs_keep_their_group(db) -> None:  # type: ignore[no-untyped-def]
    profile = _profile(db)
    arqs = arq_obj.create_many(
        db.context,
        device_profile_id=profile.id,
        device_profile_name=profile.name,
        groups=profile.groups,
        counts=[2],
        project_id="p1",
    )
    profile_obj.delete_by_uuid(db.context, profile.uuid)
    kept = arq_obj.get_by_uuid(db.context, arqs[0].uuid)
    assert kept.device_profile_id is None
    assert kept.device_profile_name == "fpga"
    assert kept.device_profile_group == {"resources:FPGA": "1"}


# Beyond the BMP: four bytes each in UTF-8 (MySQL's utf8mb3 refused them).
FOUR_BYTES = "\U0001f600 \U0001d518\U0001d52b\U0001d526 \U00020000"


def test_four_byte_characters_round_trip(db) -> None:  # type: ignore[no-untyped-def]
    profile = profile_obj.create(
        db.context,
        name="emoji",
        groups=[{"resources:FPGA": "1", "accel:function_id": FOUR_BYTES}],
        description=FOUR_BYTES * 100,
    )
    graph = graph_obj.create(
        db.context,
        name=FOUR_BYTES,
        format="json",
        document={"name": FOUR_BYTES, "nodes": []},
        nodes=0,
        flops=0.0,
        bytes_moved=0.0,
        param_bytes=0.0,
        project_id="p1",
    )
    stored = profile_obj.get_by_uuid(db.context, profile.uuid)
    assert stored.description == FOUR_BYTES * 100
    assert stored.groups[0]["accel:function_id"] == FOUR_BYTES
    assert graph_obj.get_by_uuid(db.context, graph.uuid).name == FOUR_BYTES
    with db.engine.connect() as connection:  # as stored, not only as the objects read it
        description = connection.execute(
            sa.text("SELECT description FROM device_profiles WHERE uuid = :uuid"),
            {"uuid": profile.uuid},
        ).scalar_one()
    assert description == FOUR_BYTES * 100


# --- accelerator requests ------------------------------------------------------------


def _arqs(db, count: int = 2, project_id: str = "p1"):  # type: ignore[no-untyped-def]
    profile = profile_obj.get_all(db.context, names=["fpga"]) or [_profile(db)]
    return arq_obj.create_many(
        db.context,
        device_profile_id=profile[0].id,
        device_profile_name="fpga",
        groups=[{"resources:FPGA": "1"}],
        counts=[count],
        project_id=project_id,
    )


@pytest.mark.parametrize("state", constants.values(constants.ARQState))
def test_every_arq_state_is_storable(db, state: str) -> None:  # type: ignore[no-untyped-def]
    arq = _arqs(db, 1)[0]
    arq_obj.update_state(db.context, arq.uuid, expected=["Initial"], new_state=state)
    assert arq_obj.get_by_uuid(db.context, arq.uuid).state == state


def test_arq_state_compare_and_swap(db) -> None:  # type: ignore[no-untyped-def]
    arq = _arqs(db, 1)[0]
    arq_obj.update_state(
        db.context,
        arq.uuid,
        expected=["Initial", "Unbound"],
        new_state="BindStarted",
        hostname="host1",
        instance_uuid="inst-1",
    )
    with pytest.raises(exception.ARQStateConflict) as err:
        arq_obj.update_state(db.context, arq.uuid, expected=["Initial"], new_state="BindStarted")
    assert err.value.code == 409 and "BindStarted" in err.value.message
    with pytest.raises(exception.ARQNotFound):
        arq_obj.update_state(db.context, "no-such-arq", expected=["Initial"], new_state="Bound")
    bound = arq_obj.get_by_uuid(db.context, arq.uuid)
    assert (bound.hostname, bound.instance_uuid) == ("host1", "inst-1")


def test_two_racing_binds_have_one_winner(db) -> None:  # type: ignore[no-untyped-def]
    arq = _arqs(db, 1)[0]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def bind(host: str) -> None:
        barrier.wait()
        try:
            arq_obj.update_state(
                db.context.__class__(is_admin=True),
                arq.uuid,
                expected=["Initial"],
                new_state="BindStarted",
                hostname=host,
            )
            outcomes.append("won")
        except exception.ARQStateConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=bind, args=(h,)) for h in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["conflict", "won"]


def test_arqs_are_scoped_to_their_project(db) -> None:  # type: ignore[no-untyped-def]
    mine = _arqs(db, 2, "p1")
    _arqs(db, 1, "p2")
    assert {a.uuid for a in arq_obj.get_all(db.context, project_id="p1")} == {a.uuid for a in mine}
    with pytest.raises(exception.ARQNotFound):
        arq_obj.get_by_uuid(db.context, mine[0].uuid, project_id="p2")
    with pytest.raises(exception.ARQNotFound):
        arq_obj.delete_by_uuids(db.context, [mine[0].uuid], project_id="p2")


def test_arq_delete_by_uuids_is_all_or_nothing_and_by_instance_idempotent(db) -> None:  # type: ignore[no-untyped-def]
    arqs = _arqs(db, 3)
    with pytest.raises(exception.ARQNotFound):
        arq_obj.delete_by_uuids(db.context, [arqs[0].uuid, "missing"])
    assert len(arq_obj.get_all(db.context)) == 3
    arq_obj.delete_by_uuids(db.context, [arqs[0].uuid])
    for arq in arqs[1:]:
        arq_obj.update_state(
            db.context, arq.uuid, expected=["Initial"], new_state="Bound", instance_uuid="inst-9"
        )
    assert len(arq_obj.get_all(db.context, instance_uuid="inst-9", states=["Bound"])) == 2
    assert arq_obj.delete_by_instance(db.context, "inst-9") == 2
    assert arq_obj.delete_by_instance(db.context, "inst-9") == 0


def test_an_attach_handle_serves_one_arq_at_most(db) -> None:  # type: ignore[no-untyped-def]
    seed.devices(db.engine, 1)
    seed.bound_arqs(db.engine, 1)
    other = _arqs(db, 1)[0]
    with pytest.raises(Exception):  # noqa: B017 - the unique constraint itself
        arq_obj.update_state(
            db.context, other.uuid, expected=["Initial"], new_state="Bound", attach_handle_id=1
        )


# --- pagination ------------------------------------------------------------------------


def _walk(fetch, page_size: int, sort_key: str, sort_dir: str) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    marker = None
    while True:
        page = fetch(pagination.PageRequest(page_size, marker, sort_key, sort_dir))
        seen += [item.uuid for item in page]
        if len(page) < page_size:
            return seen
        marker = page[-1].uuid


@pytest.mark.parametrize("sort_dir", ["asc", "desc"])
def test_pages_cover_every_row_once_even_with_nulls_and_ties(db, sort_dir: str) -> None:  # type: ignore[no-untyped-def]
    arqs = _arqs(db, 11)
    for i, arq in enumerate(arqs[:6]):  # 5 ARQs keep hostname NULL; the rest share 2 values
        arq_obj.update_state(
            db.context, arq.uuid, expected=["Initial"], new_state="Bound", hostname=f"h{i % 2}"
        )
    walked = _walk(lambda p: arq_obj.get_all(db.context, page=p), 3, "hostname", sort_dir)
    assert sorted(walked) == sorted(a.uuid for a in arqs)
    assert len(walked) == len(set(walked))
    everything = arq_obj.get_all(
        db.context, page=pagination.PageRequest(sort_key="hostname", sort_dir=sort_dir)
    )
    assert walked == [a.uuid for a in everything]
    hosts = [a.hostname for a in everything]
    nulls_first = hosts[:5] == [None] * 5
    assert nulls_first if sort_dir == "asc" else hosts[-5:] == [None] * 5


def test_bad_marker_and_sort_arguments_are_400(db) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exception.MarkerNotFound) as err:
        device_obj.get_all(db.context, page=pagination.PageRequest(marker="nope"))
    assert err.value.code == 400
    with pytest.raises(exception.InvalidSortKey) as err2:
        device_obj.get_all(db.context, page=pagination.PageRequest(sort_key="std_board_info"))
    assert "hostname" in err2.value.message
    with pytest.raises(exception.InvalidParameterValue):
        device_obj.get_all(db.context, page=pagination.PageRequest(sort_dir="sideways"))
