"""A host whose agent went silent: its devices are kept, reserved in Placement so that
nothing new lands there (neither Nova's scheduling nor a standalone bind), and freed
again by its next report. Real Placement, every database backend."""

import datetime
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from oslo_utils import timeutils

from cyborg.common import constants, exception, inventory
from cyborg.conductor.inventory import reports
from cyborg.db import models
from cyborg.drivers import fake
from cyborg.objects import host as host_obj
from tests import binders
from tests.placement.test_standalone_bind import arqs_of
from tests.placement.test_sync import name, tree


def _silence(db: Any, hostname: str) -> None:
    """The host last reported an hour ago, longer than [conductor] host_stale_after."""
    with db.engine.begin() as connection:
        connection.execute(
            sa.update(models.Host)
            .where(models.Host.hostname == hostname)
            .values(last_seen_at=timeutils.utcnow() - datetime.timedelta(hours=1))
        )


def _state(db: Any, hostname: str) -> str:
    return next(h.state for h in host_obj.get_all(db.context) if h.hostname == hostname)


def test_a_stale_host_is_reserved_in_placement_until_it_reports_again(
    db, conf, sync, client, claimer, host, compute_node
) -> None:  # type: ignore[no-untyped-def]
    gpu = name(host, "FakeGPU0")
    assert tree(client, compute_node)[gpu]["inventories"] == {"PGPU": (1, 0, 1)}
    _silence(db, host)
    assert reports.mark_silent_hosts_stale(conf, db.context, sync) == [host]
    assert _state(db, host) == constants.HostState.STALE
    providers = tree(client, compute_node)
    assert providers[gpu]["inventories"] == {"PGPU": (1, 1, 1)}
    assert providers[name(host, "FakeDevice")]["inventories"] == {"FPGA": (16, 16, 16)}
    # A standalone bind finds nothing free there; the ARQ fails cleanly.
    (arq,) = arqs_of(db, "gpu", [{"resources:PGPU": "1"}])
    with pytest.raises(exception.NoFreeAccelerator):
        binders.binder(claimer=claimer).bind(
            db.context, bindings={arq: {"hostname": host, "instance_uuid": str(uuid.uuid4())}}
        )

    # The agent reports again, nothing changed: back in service, freed in Placement.
    devices = fake.default_inventory(host)
    answer = reports.report_inventory(
        conf, db.context, host, inventory.fingerprint(devices), None, sync
    )
    assert answer == {"changed": False}
    assert _state(db, host) == constants.HostState.UP
    assert tree(client, compute_node)[gpu]["inventories"] == {"PGPU": (1, 0, 1)}
    binders.binder(claimer=claimer).unbind(db.context, uuids=[arq])
    binders.binder(claimer=claimer).bind(
        db.context, bindings={arq: {"hostname": host, "instance_uuid": str(uuid.uuid4())}}
    )


def test_without_placement_a_stale_host_is_only_marked(db, conf, host) -> None:  # type: ignore[no-untyped-def]
    _silence(db, host)
    assert reports.mark_silent_hosts_stale(conf, db.context) == [host]
    assert _state(db, host) == constants.HostState.STALE
