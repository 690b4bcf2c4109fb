"""Quota of standalone binds from Keystone unified limits, read from a real Keystone.

tests/keystone_service.py runs Keystone; the accelerator service and its endpoint, a
registered limit on ``class:FPGA`` and one project's own limit are made there as an
operator makes them (doc/source/admin/binding.rst), and oslo.limit reads them through
``[oslo_limit]`` as a user with the reader role on the system. Binds go through the
real Placement and database of tests/placement/conftest.py.
"""

import dataclasses
import uuid
from collections.abc import Iterator

import pytest
from keystoneauth1 import loading
from oslo_config import cfg
from oslo_limit import limit as oslo_limit

from cyborg.common import constants, exception
from cyborg.conductor.binding import quota
from cyborg.objects import accelerator_request as arq_obj
from tests import keystone_service
from tests.placement.test_standalone_bind import BOARD, GPU, allocations, arqs_of, bind

State = constants.ARQState
SERVICE = "cyborg"
READER, READER_PASSWORD = "cyborg-limits", "limits-secret"
FPGA = quota.resource_name("FPGA")


@dataclasses.dataclass
class Accelerator:
    """What the operator registered in Keystone for Cyborg's quota."""

    keystone: keystone_service.KeystoneService
    endpoint_id: str
    default_project: str  # the registered limit applies: 1 FPGA
    own_limit_project: str  # a limit of its own: 2 FPGAs


def register_accelerator(keystone: keystone_service.KeystoneService) -> Accelerator:
    endpoints = keystone.create_service(SERVICE, "accelerator", "http://127.0.0.1:9/accelerator")
    keystone.create_registered_limit(SERVICE, FPGA, 1)
    default_project = keystone.create_project("quota-default")
    own_limit_project = keystone.create_project("quota-own")
    keystone.create_limit(SERVICE, own_limit_project, FPGA, 2)
    reader = keystone.create_user(READER, READER_PASSWORD, "quota-default", [])
    keystone.grant_system_role(reader, "reader")
    return Accelerator(keystone, endpoints["public"], default_project, own_limit_project)


@pytest.fixture(scope="module")
def accelerator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Accelerator]:
    problem = ""
    try:
        with keystone_service.running(str(tmp_path_factory.mktemp("keystone"))) as keystone:
            yield register_accelerator(keystone)
    except keystone_service.KeystoneUnavailable as err:
        problem = str(err)
    if problem:  # outside the except: the message alone, without a chain of tracebacks
        pytest.fail(problem, pytrace=False)


@pytest.fixture
def unified_limits(accelerator: Accelerator, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``[oslo_limit]`` of the global configuration (the only one oslo.limit reads)
    pointed at the real Keystone, and oslo.limit's cached connection made anew."""
    # The password plugin's options are registered once oslo.limit loads the plugin;
    # before that they cannot be overridden.
    cfg.CONF.register_opts(loading.get_auth_plugin_conf_options("password"), "oslo_limit")
    options = {
        "endpoint_id": accelerator.endpoint_id,
        "auth_type": "password",
        "auth_url": accelerator.keystone.auth_url,
        "username": READER,
        "password": READER_PASSWORD,
        "user_domain_id": "default",
        "system_scope": "all",
    }
    monkeypatch.setattr(oslo_limit, "_SDK_CONNECTION", None)
    for name, value in options.items():
        cfg.CONF.set_override(name, value, "oslo_limit")
    try:
        yield
    finally:
        for name in options:
            cfg.CONF.clear_override(name, "oslo_limit")


def test_unified_limits_from_keystone_bound_standalone_binds(  # type: ignore[no-untyped-def]
    db, conf, client, claimer, host, accelerator, unified_limits
) -> None:
    conf.set_override("limits", {"FPGA": 16}, "quota")  # ignored: Keystone decides
    limits = quota.limits_from_conf(conf, db.context)
    assert quota.unified_limits_configured()

    def bind_new(profile: str, project: str, groups: list[dict[str, str]] | None = None) -> str:
        instance = str(uuid.uuid4())
        bind(db, claimer, arqs_of(db, profile, groups, project), host, instance, limits=limits)
        return instance

    default, own = accelerator.default_project, accelerator.own_limit_project
    # The registered limit: 1 FPGA.
    first = bind_new("board", default, [BOARD])
    assert allocations(client, first) != {}
    refused = arqs_of(db, "board", project=default)
    instance = str(uuid.uuid4())
    with pytest.raises(exception.QuotaExceeded) as over:
        bind(db, claimer, refused, host, instance, limits=limits)
    assert over.value.code == 403
    assert over.value.message == (
        f"Quota exceeded for project {default}: class:FPGA limit 1, usage 1, requested 1"
    )
    assert {a.state for a in arq_obj.get_all(db.context, uuids=refused)} == {State.INITIAL}
    assert allocations(client, instance) == {}

    # The project's own limit: 2 FPGAs, both at once, then no more.
    bind_new("two", own, [{**BOARD, "resources:FPGA": "2"}])
    with pytest.raises(exception.QuotaExceeded) as over:
        bind_new("board", own)
    assert over.value.message.endswith("class:FPGA limit 2, usage 2, requested 1")

    # A class without a registered limit may not be used at all.
    with pytest.raises(exception.QuotaExceeded) as unregistered:
        bind_new("gpu", own, [GPU])
    assert unregistered.value.message.endswith("class:PGPU limit 0, usage 0, requested 1")

    # A limit raised in Keystone applies to the next bind (a new Enforcer per check).
    accelerator.keystone.create_limit(SERVICE, default, FPGA, 2)
    bind(db, claimer, refused, host, instance, limits=limits)
    assert {a.state for a in arq_obj.get_all(db.context, uuids=refused)} == {State.BOUND}
    assert allocations(client, instance) != {}


def test_limits_are_unavailable_when_keystone_refuses_the_reader(  # type: ignore[no-untyped-def]
    db, conf, accelerator, unified_limits
) -> None:
    cfg.CONF.set_override("password", "wrong", "oslo_limit")
    limits = quota.limits_from_conf(conf, db.context)
    with pytest.raises(exception.QuotaLimitsUnavailable) as unavailable:
        quota.enforce(limits, accelerator.default_project, {"FPGA": 1})
    assert "(HTTP 401)" in unavailable.value.message
