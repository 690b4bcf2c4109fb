"""A list call costs the same small number of SQL statements for 10 rows as for 1000."""

import pytest

from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import attribute as attribute_obj
from cyborg.objects import deployable as deployable_obj
from cyborg.objects import device as device_obj
from cyborg.objects import device_profile as device_profile_obj
from cyborg.objects import pagination
from tests.db import seed

SIZES = (10, 1000)


def _count(db, call):  # type: ignore[no-untyped-def]
    with db.count_statements() as statements:
        result = call()
    return len(statements), result


@pytest.mark.parametrize("size", SIZES)
def test_devices_list(db, size: int) -> None:  # type: ignore[no-untyped-def]
    seed.devices(db.engine, size)
    count, devices = _count(db, lambda: device_obj.get_all(db.context))
    assert len(devices) == size
    assert count == 1
    count, devices = _count(
        db, lambda: device_obj.get_all(db.context, hostname="host1", device_type="GPU")
    )
    assert {d.hostname for d in devices} == {"host1"}
    assert count == 1


@pytest.mark.parametrize("size", SIZES)
def test_deployables_list_with_attributes(db, size: int) -> None:  # type: ignore[no-untyped-def]
    seed.devices(db.engine, size, attributes_each=3)
    count, deployables = _count(db, lambda: deployable_obj.get_all(db.context))
    assert len(deployables) == size
    assert all(len(d.attributes) == 3 for d in deployables)
    assert deployables[0].attributes[0].key == "rc"
    # The deployables, then all their attributes in one statement.
    assert count == 2


@pytest.mark.parametrize("size", SIZES)
def test_deployables_page_after_marker(db, size: int) -> None:  # type: ignore[no-untyped-def]
    seed.devices(db.engine, size)
    first = deployable_obj.get_all(db.context, page=pagination.PageRequest(limit=5))
    page = pagination.PageRequest(limit=5, marker=first[-1].uuid)
    count, second = _count(db, lambda: deployable_obj.get_all(db.context, page=page))
    assert len(second) == 5
    assert not {d.uuid for d in first} & {d.uuid for d in second}
    assert count == 3  # marker row, the page, its attributes


@pytest.mark.parametrize("size", SIZES)
def test_attributes_list(db, size: int) -> None:  # type: ignore[no-untyped-def]
    seed.devices(db.engine, size, attributes_each=2)
    count, attributes = _count(db, lambda: attribute_obj.get_all(db.context, key="rc"))
    assert len(attributes) == size
    assert count == 1


@pytest.mark.parametrize("size", SIZES)
def test_bound_arqs_list_with_handles(db, size: int) -> None:  # type: ignore[no-untyped-def]
    seed.devices(db.engine, size)
    seed.bound_arqs(db.engine, size)
    count, arqs = _count(db, lambda: arq_obj.get_all(db.context, project_id="p1"))
    assert len(arqs) == size
    assert all(arq.attach_handle_type == "PCI" for arq in arqs)
    assert all(
        arq.attach_handle_info and arq.attach_handle_info["domain"] == "0000" for arq in arqs
    )
    assert all(arq.deployable_uuid for arq in arqs)
    # ARQs, their attach handles and deployables: one joined statement.
    assert count == 1


@pytest.mark.parametrize("size", SIZES)
def test_create_arqs_in_bulk(db, size: int) -> None:  # type: ignore[no-untyped-def]
    profile = device_profile_obj.create(
        db.context, name="fpga", groups=[{"resources:FPGA": "1"}, {"resources:FPGA": "1"}]
    )
    count, arqs = _count(
        db,
        lambda: arq_obj.create_many(
            db.context,
            device_profile_id=profile.id,
            device_profile_name=profile.name,
            groups=profile.groups,
            counts=[size - size // 2, size // 2],
            project_id="p1",
        ),
    )
    assert len(arqs) == size
    assert [a.device_profile_group_id for a in arqs].count(1) == size // 2
    # One insert (executemany) and one select back, whatever the count. SQLAlchemy
    # may send a large executemany in a few batches ("insertmanyvalues"), so the
    # bound is on statements per 1000 rows, not per row.
    assert count <= 4
