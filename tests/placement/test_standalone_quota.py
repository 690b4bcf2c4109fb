"""Quota of the standalone binding path: limits from [quota] and from Keystone unified
limits (oslo.limit), usage counted from Cyborg's own claims only.

The unified-limits test here answers oslo.limit's identity calls (limits model,
endpoint, limits, registered limits) from a small in-memory stand-in, as oslo.limit's
own LimitFixture does; everything from the Enforcer down (usage callback, limit lookup
by ``class:<RC>``, the 403) is real. test_unified_limits.py reads them from a real
Keystone.
"""

import types
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from oslo_config import cfg
from oslo_limit import limit as oslo_limit

from cyborg.common import constants, exception
from cyborg.conductor.binding import quota
from cyborg.objects import accelerator_request as arq_obj
from tests import binders
from tests.placement.test_standalone_bind import BOARD, GPU, allocations, arqs_of, bind, board_of

State = constants.ARQState


@pytest.fixture
def limits(conf: cfg.ConfigOpts, db: Any) -> quota.Limits:
    conf.set_override("limits", {"FPGA": 2}, "quota")
    return quota.limits_from_conf(conf, db.context)


def test_config_limits_count_only_what_cyborg_claimed(db, client, claimer, host, limits) -> None:  # type: ignore[no-untyped-def]
    assert not quota.unified_limits_configured()
    # Nova's binds of the project (three FPGA functions) are Nova's to count.
    nova = arqs_of(db, "three", [{**BOARD, "resources:FPGA": "3"}])
    binders.binder(limits=limits).bind(
        db.context,
        bindings={
            arq: {"hostname": host, "device_rp_uuid": board_of(host), "instance_uuid": "nova-vm"}
            for arq in nova
        },
    )
    first = str(uuid.uuid4())
    bind(db, claimer, arqs_of(db, "board", [BOARD]), host, first, limits=limits)

    pair = arqs_of(db, "two", [{**BOARD, "resources:FPGA": "2"}])
    second = str(uuid.uuid4())
    with pytest.raises(exception.QuotaExceeded) as over:
        bind(db, claimer, pair, host, second, limits=limits)
    assert over.value.code == 403
    assert over.value.message == (
        "Quota exceeded for project p1: class:FPGA limit 2, usage 1, requested 2"
    )
    assert {a.state for a in arq_obj.get_all(db.context, uuids=pair)} == {State.INITIAL}
    assert allocations(client, second) == {}

    # Per project; a class without a limit is unlimited.
    bind(db, claimer, arqs_of(db, "two", project="p2"), host, str(uuid.uuid4()), limits=limits)
    bind(db, claimer, arqs_of(db, "gpu", [GPU]), host, str(uuid.uuid4()), limits=limits)
    # Released claims no longer count.
    binders.binder(claimer=claimer).delete(db.context, instance_uuid=first)
    bind(db, claimer, pair, host, second, limits=limits)
    assert allocations(client, second) == {board_of(host): {"FPGA": 2}}


class LimitLoweredMeanwhile:
    """Generous for the check before the claim, nothing left for the recheck after it
    (as when another bind of the project claimed in between)."""

    def __init__(self, db: Any) -> None:
        self.calls = 0
        self.usage = quota.usage_callback(db.context)

    def enforce(self, project_id: str | None, deltas: dict[str, int]) -> None:
        self.calls += 1
        limit = 16 if self.calls == 1 else 0
        quota.ConfigLimits({"FPGA": limit}, self.usage).enforce(project_id, deltas)


def test_the_recheck_after_the_claim_rolls_it_back(db, client, claimer, host) -> None:  # type: ignore[no-untyped-def]
    (arq,) = arqs_of(db, "board", [BOARD])
    instance = str(uuid.uuid4())
    with pytest.raises(exception.QuotaExceeded) as over:
        bind(db, claimer, [arq], host, instance, limits=LimitLoweredMeanwhile(db))
    assert "usage 1 with this request" in over.value.message
    failed = arq_obj.get_by_uuid(db.context, arq)
    assert (failed.state, failed.claimed_resources) == (State.BIND_FAILED, None)
    assert "Quota exceeded" in (failed.bind_failure_reason or "")
    assert allocations(client, instance) == {}


class KeystoneLimits:
    """Keystone's answers to oslo.limit's identity calls, from dictionaries."""

    def __init__(self, registered: dict[str, int], projects: dict[str, dict[str, int]]) -> None:
        self.registered = registered
        self.projects = projects
        self.asked: list[tuple[str, str]] = []

    def get(self, path: str) -> Any:
        assert path == "/limits/model"
        return types.SimpleNamespace(json=lambda: {"model": {"name": "flat"}})

    def get_endpoint(self, endpoint_id: str) -> Any:
        return types.SimpleNamespace(id=endpoint_id, service_id="svc-accel", region_id="R1")

    def limits(self, *, service_id: str, region_id: str, project_id: str | None) -> Iterator[Any]:
        self.asked.append(("limits", service_id))
        for project, limits in self.projects.items():
            if project_id in (None, project):
                for name, value in limits.items():
                    yield types.SimpleNamespace(
                        resource_name=name, resource_limit=value, project_id=project
                    )

    def registered_limits(self, *, service_id: str, region_id: str) -> Iterator[Any]:
        self.asked.append(("registered_limits", service_id))
        for name, value in self.registered.items():
            yield types.SimpleNamespace(resource_name=name, default_limit=value)


@pytest.fixture
def keystone(monkeypatch: pytest.MonkeyPatch) -> Iterator[KeystoneLimits]:
    fake = KeystoneLimits({"class:FPGA": 1}, {"p1": {"class:FPGA": 2}})
    monkeypatch.setattr(oslo_limit, "_SDK_CONNECTION", fake)
    cfg.CONF.set_override("endpoint_id", "cyborg-endpoint", "oslo_limit")
    try:
        yield fake
    finally:
        cfg.CONF.clear_override("endpoint_id", "oslo_limit")


def test_unified_limits_come_from_keystone(  # type: ignore[no-untyped-def]
    db, conf, client, claimer, host, keystone
) -> None:
    conf.set_override("limits", {"FPGA": 16}, "quota")  # ignored: Keystone decides
    limits = quota.limits_from_conf(conf, db.context)
    assert quota.unified_limits_configured()

    bind(
        db,
        claimer,
        arqs_of(db, "board", [BOARD], project="p2"),
        host,
        str(uuid.uuid4()),
        limits=limits,
    )
    with pytest.raises(exception.QuotaExceeded) as over:  # registered limit: 1
        bind(
            db, claimer, arqs_of(db, "board", project="p2"), host, str(uuid.uuid4()), limits=limits
        )
    assert over.value.message.endswith("class:FPGA limit 1, usage 1, requested 1")

    pair = arqs_of(db, "two", [{**BOARD, "resources:FPGA": "2"}], project="p1")  # p1's limit: 2
    bind(db, claimer, pair, host, str(uuid.uuid4()), limits=limits)

    with pytest.raises(exception.QuotaExceeded) as unregistered:  # no limit: none allowed
        bind(
            db,
            claimer,
            arqs_of(db, "gpu", [GPU], project="p1"),
            host,
            str(uuid.uuid4()),
            limits=limits,
        )
    assert unregistered.value.message.endswith("class:PGPU limit 0, usage 0, requested 1")
    assert {service for _, service in keystone.asked} == {"svc-accel"}
