"""The conductor through its RPC API: a real RPC server in-process, on every backend.

The server runs the ConductorManager on oslo.messaging's in-process ``fake://``
transport with the threading executor, against the ``db`` fixture's database; the
tests call it only through ConductorAPI and read results back through cyborg.objects,
as the API process does.
"""

import pathlib
import sys
import threading
import uuid as uuidlib
from collections.abc import Iterator
from typing import Any

import pytest
from oslo_config import cfg
from oslo_messaging._drivers import common as driver_common

import cyborg.conf
from cyborg.common import constants, exception, profile_rules, rpc
from cyborg.conductor import rpcapi
from cyborg.conductor import server as conductor_server
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import attach_handle as handle_obj
from cyborg.objects import attribute as attribute_obj
from cyborg.objects import device as device_obj
from cyborg.objects import device_profile as profile_obj
from tests.db import seed

State = constants.ARQState

# CAS to BindStarted, deployable + its attributes, CAS to Bound, lock + claim + re-read
# the handle, link it: the budget the statement-count test holds bind to.
PER_ARQ_BIND_STATEMENTS = 8
# Each call that writes: its record, inserted with its first commit, finished at its end.
CALL_RECORD_STATEMENTS = 2
# Nova binds: whether the devices' handles are ones Nova can attach, one query for all.
NOVA_ATTACHABLE_STATEMENTS = 1


def make_conf(directory: pathlib.Path, transport_url: str) -> cfg.ConfigOpts:
    """A service's ConfigOpts, read from a config file as a deployment would."""
    path = directory / "cyborg.conf"
    path.write_text(f"[DEFAULT]\ntransport_url = {transport_url}\nhost = test-conductor\n")
    conf = cfg.ConfigOpts()
    cyborg.conf.parse_args(
        ["test", "--config-file", str(path)], conf=conf, default_config_files=[]
    )
    return conf


@pytest.fixture(scope="module")
def conductor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rpcapi.ConductorAPI]:
    """One server for the module (stopping one takes a poll interval, about a second).

    It reaches whichever database the ``db`` fixture of the running test points the
    data-access layer at, so every test takes ``db`` as well.
    """
    conf = make_conf(tmp_path_factory.mktemp("conductor"), "fake://")
    server = conductor_server.start(conf, background=False)
    assert server.rpc_server.executor_type == "threading"
    try:
        yield rpcapi.ConductorAPI(conf)
    finally:
        conductor_server.stop(conf, server)


def _new_uuid() -> str:
    return str(uuidlib.uuid4())


def _deployable(db, *, handles: int, host: str = "host1", bus: int = 1):  # type: ignore[no-untyped-def]
    return seed.bindable_deployable(db.context, handles=handles, host=host, bus=bus)


def _binding(deployable, instance: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"hostname": "host1", "device_rp_uuid": deployable.rp_uuid, "instance_uuid": instance}


def _state(db, uuid: str) -> str:  # type: ignore[no-untyped-def]
    return arq_obj.get_by_uuid(db.context, uuid).state


def _free_handles(db, deployable) -> int:  # type: ignore[no-untyped-def]
    return len(handle_obj.get_all(db.context, deployable_id=deployable.id, in_use=False))


# --- pure rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "count"),
    [
        ({"resources:FPGA": "1"}, 1),
        ({"resources:PGPU": "2", "resources:VGPU": "3", "trait:CUSTOM_X": "required"}, 5),
        ({"resources:FPGA": "2", "trait:CUSTOM_FPGA_XILINX": "required"}, 4),
        ({"resources:FPGA": "1", "trait:CUSTOM_FPGA_XILINX": "forbidden"}, 1),
        ({"trait:CUSTOM_X": "required"}, 0),
    ],
)
def test_accelerator_count(group: dict[str, str], count: int) -> None:
    assert profile_rules.accelerator_count(group) == count


@pytest.mark.parametrize(
    "error",
    [
        exception.DeviceProfileNotFound(name="gpu"),
        exception.ARQStateConflict(uuid="u", actual="Bound", expected="Initial"),
        exception.Invalid("a message given as is"),
        exception.CyborgException(),
    ],
)
def test_our_exceptions_survive_oslo_messaging_serialisation(error: Exception) -> None:
    """What a real driver (rabbit) does with a server's exception, done by hand."""
    try:
        raise error
    except exception.CyborgException:
        data = driver_common.serialize_remote_exception(sys.exc_info())
    rebuilt = driver_common.deserialize_remote_exception(data, rpc.ALLOWED_EXMODS)
    assert isinstance(rebuilt, type(error))
    assert isinstance(rebuilt, exception.CyborgException)
    assert isinstance(error, exception.CyborgException)
    assert (rebuilt.message, rebuilt.code, rebuilt.kwargs) == (
        error.message,
        error.code,
        error.kwargs,
    )


# --- device profiles -----------------------------------------------------------------


def test_device_profile_create_conflict_and_delete(db, conductor) -> None:  # type: ignore[no-untyped-def]
    groups = [{"resources:FPGA": "1"}]
    uuid = conductor.create_device_profile(db.context, name="fpga", groups=groups)
    assert profile_obj.get_by_uuid(db.context, uuid).groups == groups
    with pytest.raises(exception.DeviceProfileNameConflict) as conflict:
        conductor.create_device_profile(db.context, name="fpga", groups=groups)
    assert conflict.value.code == 409
    with pytest.raises(exception.DeviceProfileNotFound) as missing:
        conductor.delete_device_profiles(db.context, names=["fpga", "nope"])
    assert missing.value.code == 404 and "nope" in missing.value.message
    conductor.delete_device_profiles(db.context, uuids=[uuid])
    assert profile_obj.get_all(db.context) == []
    with pytest.raises(exception.Invalid):
        conductor.delete_device_profiles(db.context)


def test_project_may_delete_only_its_own_profiles(db, conductor) -> None:  # type: ignore[no-untyped-def]
    conductor.create_device_profile(db.context, name="mine", groups=[], project_id="p1")
    conductor.create_device_profile(db.context, name="shared", groups=[])
    with pytest.raises(exception.DeviceProfileNotFound):
        conductor.delete_device_profiles(db.context, names=["shared"], project_id="p1")
    conductor.delete_device_profiles(db.context, names=["mine"], project_id="p1")
    assert [p.name for p in profile_obj.get_all(db.context)] == ["shared"]


# --- ARQs: create, bind, unbind, delete ----------------------------------------------


def test_create_arqs_one_per_accelerator(db, conductor) -> None:  # type: ignore[no-untyped-def]
    groups = [
        {"resources:PGPU": "2"},
        {"resources:FPGA": "1", "trait:CUSTOM_FPGA_XILINX": "required"},
    ]
    conductor.create_device_profile(db.context, name="mixed", groups=groups, project_id="p1")
    uuids = conductor.create_arqs(
        db.context, device_profile_name="mixed", project_id="p1", visible_to_project="p1"
    )
    arqs = arq_obj.get_all(db.context, uuids=uuids)
    assert sorted(arq.device_profile_group_id for arq in arqs) == [0, 0, 1, 1]
    assert {(arq.state, arq.project_id) for arq in arqs} == {(State.INITIAL, "p1")}
    with pytest.raises(exception.DeviceProfileNotFound) as hidden:
        conductor.create_arqs(
            db.context, device_profile_name="mixed", project_id="p2", visible_to_project="p2"
        )
    assert hidden.value.code == 404


def test_bind_unbind_delete_round_trip(db, conductor) -> None:  # type: ignore[no-untyped-def]
    deployable = _deployable(db, handles=2)
    conductor.create_device_profile(db.context, name="gpu", groups=[{"resources:PGPU": "1"}])
    (arq,) = conductor.create_arqs(db.context, device_profile_name="gpu", project_id="p1")
    instance = _new_uuid()

    conductor.bind_arqs(db.context, bindings={arq: _binding(deployable, instance)})
    bound = arq_obj.get_by_uuid(db.context, arq)
    assert bound.state == State.BOUND
    assert (bound.instance_uuid, bound.deployable_uuid) == (instance, deployable.uuid)
    assert bound.attach_handle_type == "PCI"
    assert bound.attach_handle_info == {
        "bus": "01", "device": "00", "domain": "0000", "function": "0"
    }  # fmt: skip
    assert _free_handles(db, deployable) == 1

    # No hot-add: another ARQ for the same instance is refused, and left as it was.
    (late,) = conductor.create_arqs(db.context, device_profile_name="gpu", project_id="p1")
    with pytest.raises(exception.Invalid) as refused:
        conductor.bind_arqs(db.context, bindings={late: _binding(deployable, instance)})
    assert refused.value.code == 400 and arq in refused.value.message
    assert _state(db, late) == State.INITIAL

    conductor.unbind_arqs(db.context, uuids=[arq])
    unbound = arq_obj.get_by_uuid(db.context, arq)
    assert unbound.state == State.UNBOUND
    assert (unbound.instance_uuid, unbound.attach_handle_uuid, unbound.project_id) == (
        None,
        None,
        "p1",
    )
    assert _free_handles(db, deployable) == 2
    conductor.unbind_arqs(db.context, uuids=[arq])  # idempotent

    # Bound again, then deleted by instance: the handle comes back; a repeat is a no-op.
    conductor.bind_arqs(db.context, bindings={arq: _binding(deployable, instance)})
    conductor.delete_arqs(db.context, instance_uuid=instance)
    conductor.delete_arqs(db.context, instance_uuid=instance)
    assert [a.uuid for a in arq_obj.get_all(db.context)] == [late]
    assert _free_handles(db, deployable) == 2


def test_bind_costs_a_fixed_number_of_statements_per_arq(db, conductor) -> None:  # type: ignore[no-untyped-def]
    deployable = _deployable(db, handles=3)
    conductor.create_device_profile(db.context, name="gpu", groups=[{"resources:PGPU": "3"}])
    arqs = conductor.create_arqs(db.context, device_profile_name="gpu", project_id="p")
    instance = _new_uuid()
    with db.count_statements() as statements:
        conductor.bind_arqs(
            db.context, bindings={arq: _binding(deployable, instance) for arq in arqs}
        )
    # The "already bound?" check covers every ARQ of the instance in one query.
    assert len([sql for sql in statements if "instance_uuid IN" in sql]) == 1
    attachable = [sql for sql in statements if "DISTINCT" in sql and "attach_type" in sql]
    assert len(attachable) == NOVA_ATTACHABLE_STATEMENTS
    assert len(statements) == (
        2
        + CALL_RECORD_STATEMENTS
        + NOVA_ATTACHABLE_STATEMENTS
        + PER_ARQ_BIND_STATEMENTS * len(arqs)
    )


def test_bind_of_several_arqs_fails_only_those_that_cannot_bind(db, conductor) -> None:  # type: ignore[no-untyped-def]
    deployable = _deployable(db, handles=1)
    conductor.create_device_profile(db.context, name="gpu", groups=[{"resources:PGPU": "2"}])
    first, second = conductor.create_arqs(db.context, device_profile_name="gpu", project_id="p")
    instance = _new_uuid()
    bindings = {first: _binding(deployable, instance), second: _binding(deployable, instance)}
    with pytest.raises(exception.NoFreeAttachHandle) as err:
        conductor.bind_arqs(db.context, bindings=bindings)
    assert err.value.code == 409
    assert (_state(db, first), _state(db, second)) == (State.BOUND, State.BIND_FAILED)


def test_bind_to_an_unknown_provider_fails_the_arq(db, conductor) -> None:  # type: ignore[no-untyped-def]
    conductor.create_device_profile(db.context, name="gpu", groups=[{"resources:PGPU": "1"}])
    (arq,) = conductor.create_arqs(db.context, device_profile_name="gpu", project_id="p")
    binding = {"hostname": "h", "device_rp_uuid": _new_uuid(), "instance_uuid": _new_uuid()}
    with pytest.raises(exception.DeployableNotFound) as err:
        conductor.bind_arqs(db.context, bindings={arq: binding})
    assert err.value.code == 404
    assert _state(db, arq) == State.BIND_FAILED


def test_bind_refuses_bad_requests_before_changing_anything(db, conductor) -> None:  # type: ignore[no-untyped-def]
    deployable = _deployable(db, handles=1)
    conductor.create_device_profile(db.context, name="gpu", groups=[{"resources:PGPU": "1"}])
    (arq,) = conductor.create_arqs(db.context, device_profile_name="gpu", project_id="p1")
    with pytest.raises(exception.Invalid):
        conductor.bind_arqs(db.context, bindings={arq: {"hostname": "h"}})
    with pytest.raises(exception.ARQNotFound) as missing:
        conductor.bind_arqs(
            db.context,
            bindings={arq: _binding(deployable, _new_uuid())},
            project_id="someone-else",
        )
    assert missing.value.code == 404
    assert _state(db, arq) == State.INITIAL
    # A bound ARQ cannot be bound again (the compare-and-swap refuses it).
    conductor.bind_arqs(db.context, bindings={arq: _binding(deployable, "i1")})
    with pytest.raises(exception.ARQStateConflict):
        conductor.bind_arqs(db.context, bindings={arq: _binding(deployable, "i2")})
    assert arq_obj.get_by_uuid(db.context, arq).instance_uuid == "i1"


def test_delete_by_uuids_is_all_or_nothing_and_frees_handles(db, conductor) -> None:  # type: ignore[no-untyped-def]
    deployable = _deployable(db, handles=1)
    conductor.create_device_profile(db.context, name="gpu", groups=[{"resources:PGPU": "2"}])
    first, second = conductor.create_arqs(db.context, device_profile_name="gpu", project_id="p")
    conductor.bind_arqs(db.context, bindings={first: _binding(deployable, _new_uuid())})
    absent = _new_uuid()
    with pytest.raises(exception.ARQNotFound) as missing:
        conductor.delete_arqs(db.context, uuids=[first, absent])
    assert missing.value.code == 404 and absent in missing.value.message
    assert len(arq_obj.get_all(db.context)) == 2
    with pytest.raises(exception.Invalid):
        conductor.delete_arqs(db.context, uuids=[first], instance_uuid=_new_uuid())
    conductor.delete_arqs(db.context, uuids=[first, second])
    assert arq_obj.get_all(db.context) == []
    assert _free_handles(db, deployable) == 1


def _bind_concurrently(db, conductor, deployable, arqs: list[str]) -> dict[str, Exception]:  # type: ignore[no-untyped-def]
    """Bind each ARQ (to its own instance) from its own thread, all at once."""
    start = threading.Barrier(len(arqs))
    errors: dict[str, Exception] = {}

    def bind(arq: str) -> None:
        start.wait()
        try:
            conductor.bind_arqs(db.context, bindings={arq: _binding(deployable, _new_uuid())})
        except Exception as err:
            errors[arq] = err

    threads = [threading.Thread(target=bind, args=(arq,)) for arq in arqs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_two_binds_race_for_the_last_handle(db, conductor) -> None:  # type: ignore[no-untyped-def]
    deployable = _deployable(db, handles=1)
    conductor.create_device_profile(db.context, name="gpu", groups=[{"resources:PGPU": "2"}])
    arqs = conductor.create_arqs(db.context, device_profile_name="gpu", project_id="p")
    errors = _bind_concurrently(db, conductor, deployable, arqs)
    (loser,) = errors
    (winner,) = set(arqs) - {loser}
    assert isinstance(errors[loser], exception.NoFreeAttachHandle), errors
    assert (_state(db, winner), _state(db, loser)) == (State.BOUND, State.BIND_FAILED)
    assert _free_handles(db, deployable) == 0


def test_concurrent_binds_share_out_every_free_handle(db, conductor) -> None:  # type: ignore[no-untyped-def]
    deployable = _deployable(db, handles=3)
    conductor.create_device_profile(db.context, name="gpu", groups=[{"resources:PGPU": "5"}])
    arqs = conductor.create_arqs(db.context, device_profile_name="gpu", project_id="p")
    errors = _bind_concurrently(db, conductor, deployable, arqs)
    assert {type(err) for err in errors.values()} == {exception.NoFreeAttachHandle}
    bound = arq_obj.get_all(db.context, states=[State.BOUND])
    assert len(bound) == 3 and len(errors) == 2
    assert len({arq.attach_handle_uuid for arq in bound}) == 3
    assert _free_handles(db, deployable) == 0


# --- inventory -----------------------------------------------------------------------


def test_device_status_and_attributes(db, conductor) -> None:  # type: ignore[no-untyped-def]
    deployable = _deployable(db, handles=1)
    device_uuid = device_obj.get_all(db.context)[0].uuid
    conductor.set_device_status(db.context, uuid=device_uuid, status="maintaining")
    assert device_obj.get_by_uuid(db.context, device_uuid).status == "maintaining"
    with pytest.raises(exception.Invalid):
        conductor.set_device_status(db.context, uuid=device_uuid, status="broken")
    with pytest.raises(exception.DeviceNotFound):
        conductor.set_device_status(db.context, uuid=_new_uuid(), status="enabled")

    uuid = conductor.create_attribute(
        db.context, deployable_uuid=deployable.uuid, key="rack", value="r1"
    )
    created = attribute_obj.get_by_uuid(db.context, uuid)
    assert (created.value, created.source) == ("r1", "operator")
    with pytest.raises(exception.DuplicateEntry):
        conductor.create_attribute(
            db.context, deployable_uuid=deployable.uuid, key="rack", value="r2"
        )
    conductor.delete_attribute(db.context, uuid=uuid)
    with pytest.raises(exception.AttributeNotFound):
        conductor.delete_attribute(db.context, uuid=uuid)

    # The names only drivers write, and the keys a driver reported, are refused.
    with pytest.raises(exception.Invalid, match="only the device's driver writes"):
        conductor.create_attribute(
            db.context, deployable_uuid=deployable.uuid, key="trait0", value="CUSTOM_A"
        )
    reported = attribute_obj.create(
        db.context, deployable_id=deployable.id, key="rc", value="FPGA", source="driver"
    )
    with pytest.raises(exception.AttributeOwnedByDriver, match="Attribute rc of deployable"):
        conductor.create_attribute(
            db.context, deployable_uuid=deployable.uuid, key="rc", value="PGPU"
        )
    with pytest.raises(exception.AttributeOwnedByDriver):
        conductor.delete_attribute(db.context, uuid=reported.uuid)
    assert attribute_obj.get_by_uuid(db.context, reported.uuid).value == "FPGA"


def test_a_bind_waits_for_the_report_that_publishes_its_device(  # type: ignore[no-untyped-def]
    db, conductor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nova may allocate a new device's provider while the report that created it is
    still committing its deployable: the bind waits for that report, then binds."""
    if db.backend == "sqlite":
        pytest.skip("SQLite is the all-in-one's database: one writer, no report in flight")
    from cyborg.common import context as cyborg_context
    from cyborg.db import api as db_api
    from cyborg.objects import deployable as deployable_obj
    from cyborg.objects import host as host_obj

    host_obj.create_if_missing(db.context, "host1")
    conductor.create_device_profile(db.context, name="gpu", groups=[{"resources:PGPU": "1"}])
    (arq,) = conductor.create_arqs(db.context, device_profile_name="gpu", project_id="p")
    missed = threading.Event()
    looked_up = deployable_obj.get_by_rp_uuid

    def lookup(context, rp_uuid):  # type: ignore[no-untyped-def]
        try:
            return looked_up(context, rp_uuid)
        except exception.DeployableNotFound:
            missed.set()
            raise

    monkeypatch.setattr(deployable_obj, "get_by_rp_uuid", lookup)
    published = threading.Event()
    made: list[Any] = []

    def report() -> None:  # as cyborg.conductor.inventory.reports does, Placement inside
        context = cyborg_context.get_admin_context()
        with db_api.context_manager.writer.using(context):
            host_obj.lock(context, "host1")
            made.append(seed.bindable_deployable(context, handles=1))
            published.set()  # Placement has the provider now; the rows are not committed
            assert missed.wait(60), "the bind never looked for the deployable"

    reporting = threading.Thread(target=report)
    reporting.start()
    try:
        assert published.wait(60)
        conductor.bind_arqs(db.context, bindings={arq: _binding(made[0], _new_uuid())})
    finally:
        missed.set()
        reporting.join(60)
    assert _state(db, arq) == State.BOUND
