"""Operators' attributes (POST /v2/attributes) and agent reports, on every backend.

A report replaces only the attributes its driver owns: an operator's survive every
report, and the API refuses to change or delete the driver's.
"""

import dataclasses

import pytest
import sqlalchemy as sa

from cyborg.common import exception
from cyborg.conductor.inventory import operator_changes
from cyborg.objects import attribute as attribute_obj
from cyborg.objects import deployable as deployable_obj
from cyborg.objects import host as host_obj
from tests.db.test_inventory_reports import gpu, report


def _deployable(db):  # type: ignore[no-untyped-def]
    (deployable,) = deployable_obj.get_all(db.context)
    return deployable


def _attributes(db) -> dict[str, tuple[str, str]]:  # type: ignore[no-untyped-def]
    """key -> (value, source) of the only deployable."""
    return {
        a.key: (a.value, a.source)
        for a in attribute_obj.get_all(db.context, deployable_id=_deployable(db).id)
    }


def _with_facts(*facts: tuple[str, str]):  # type: ignore[no-untyped-def]
    """The GPU at bus 1, reporting ``facts`` as its attributes."""
    device = gpu(1)
    (deployable,) = device.deployables
    return dataclasses.replace(
        device, deployables=(dataclasses.replace(deployable, attributes=facts),)
    )


def test_an_operators_attribute_survives_reports_that_change_the_drivers(db) -> None:  # type: ignore[no-untyped-def]
    report(db, [gpu(1)])
    rack = operator_changes.create_attribute(
        db.context, deployable_uuid=_deployable(db).uuid, key="rack", value="r1"
    )
    # The driver's facts change, then go; its traits change: the rack stays.
    report(db, [_with_facts(("numa_node", "1"))])
    assert _attributes(db)["rack"] == ("r1", "operator")
    assert _attributes(db)["numa_node"] == ("1", "driver")
    assert report(db, [gpu(1, trait="CUSTOM_NVIDIA_2330")])["changed"] is True
    report(db, [_with_facts()])
    assert _attributes(db) == {
        "rc": ("PGPU", "driver"),
        "trait0": ("OWNER_CYBORG", "driver"),
        "trait1": ("CUSTOM_NVIDIA_20B0", "driver"),
        "rack": ("r1", "operator"),
    }
    assert attribute_obj.get_by_uuid(db.context, rack).value == "r1"


def test_a_key_both_set_keeps_the_operators_value_until_they_delete_it(db) -> None:  # type: ignore[no-untyped-def]
    report(db, [_with_facts()])
    mine = operator_changes.create_attribute(
        db.context, deployable_uuid=_deployable(db).uuid, key="firmware", value="pinned"
    )
    # A newer driver starts reporting the same key: the operator's value stands.
    reported = _with_facts(("firmware", "96.00.5e"))
    assert report(db, [reported])["changed"] is True
    assert _attributes(db)["firmware"] == ("pinned", "operator")
    assert report(db, [reported], fingerprint_only=True) == {"changed": False}

    operator_changes.delete_attribute(db.context, uuid=mine)
    # The host's next report sends its devices: the driver's value is stored.
    assert report(db, [reported], fingerprint_only=True) == {"need_inventory": True}
    report(db, [reported])
    assert _attributes(db)["firmware"] == ("96.00.5e", "driver")


def test_rows_from_before_owners_are_sorted_by_the_next_report(db) -> None:  # type: ignore[no-untyped-def]
    """As the migration leaves them: a key the driver reports becomes its own, any
    other the operator's, and neither value is lost."""
    report(db, [gpu(1)])
    operator_changes.create_attribute(
        db.context, deployable_uuid=_deployable(db).uuid, key="note", value="spare"
    )
    with db.engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE attributes SET source = 'unknown' WHERE attributes.key IN "
                "('numa_node', 'note')"
            )
        )
    host_obj.forget_fingerprint(db.context, "host-a")
    report(db, [_with_facts(("memory_mb", "40960"), ("numa_node", "3"))])
    facts = _attributes(db)
    assert facts["numa_node"] == ("3", "driver")
    assert facts["note"] == ("spare", "operator")
    report(db, [_with_facts(("memory_mb", "40960"))])
    assert "numa_node" not in _attributes(db)
    assert _attributes(db)["note"] == ("spare", "operator")


def test_the_api_refuses_to_change_or_delete_what_the_driver_reports(db) -> None:  # type: ignore[no-untyped-def]
    report(db, [gpu(1)])
    deployable = _deployable(db)
    before = _attributes(db)
    for key in ("rc", "trait0", "numa_node"):
        with pytest.raises(exception.AttributeOwnedByDriver, match=f"Attribute {key} of"):
            operator_changes.create_attribute(
                db.context, deployable_uuid=deployable.uuid, key=key, value="x"
            )
        (row,) = attribute_obj.get_all(db.context, deployable_id=deployable.id, key=key)
        with pytest.raises(exception.AttributeOwnedByDriver) as refused:
            operator_changes.delete_attribute(db.context, uuid=row.uuid)
        assert refused.value.code == 409
    # Names Placement publishing reads are the driver's on any deployable.
    for key in ("trait7", "health"):
        with pytest.raises(exception.Invalid):
            operator_changes.create_attribute(
                db.context, deployable_uuid=deployable.uuid, key=key, value="x"
            )
    assert _attributes(db) == before
    assert report(db, [gpu(1)], fingerprint_only=True) == {"changed": False}  # nothing forced
