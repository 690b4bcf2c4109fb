"""Nothing is bound to a deployable its driver reports unhealthy or fatal."""

import pytest

from cyborg.common import constants, exception, inventory
from cyborg.conductor.binding import device_profiles
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import attribute as attribute_obj
from tests import binders
from tests.db import seed

INSTANCE = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def _bind(db, deployable) -> str:  # type: ignore[no-untyped-def]
    device_profiles.create_device_profile(db.context, name="gpu", groups=[{"resources:PGPU": "1"}])
    (arq,) = binders.binder().create(db.context, device_profile_name="gpu", project_id="p")
    binding = {
        "hostname": "host1",
        "device_rp_uuid": deployable.rp_uuid,
        "instance_uuid": INSTANCE,
    }
    binders.binder().bind(db.context, bindings={arq: binding})
    return arq


def test_a_bind_to_a_fatal_deployable_fails_with_its_reason(db) -> None:  # type: ignore[no-untyped-def]
    deployable = seed.bindable_deployable(db.context, handles=1)
    for key, value in ((inventory.ATTR_HEALTH, "fatal"), (inventory.ATTR_HEALTH_REASON, "XID 79")):
        attribute_obj.create(db.context, deployable_id=deployable.id, key=key, value=value)
    with pytest.raises(exception.DeployableUnhealthy) as raised:
        _bind(db, deployable)
    assert raised.value.code == 409
    (arq,) = arq_obj.get_all(db.context)
    assert arq.state == constants.ARQState.BIND_FAILED
    assert arq.bind_failure_reason == (
        f"The device of resource provider {deployable.rp_uuid} is fatal (XID 79): "
        "nothing is bound to it until its driver reports it healthy."
    )
    assert arq.attach_handle_id is None


def test_a_healthy_deployable_binds(db) -> None:  # type: ignore[no-untyped-def]
    deployable = seed.bindable_deployable(db.context, handles=1)
    attribute_obj.create(
        db.context, deployable_id=deployable.id, key=inventory.ATTR_HEALTH, value="healthy"
    )
    arq = _bind(db, deployable)
    assert arq_obj.get_by_uuid(db.context, arq).state == constants.ARQState.BOUND
