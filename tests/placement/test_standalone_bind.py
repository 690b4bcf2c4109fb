"""Binds without Nova against a real Placement and database: Cyborg picks the device on
the named host, claims it, and releases exactly its own share on unbind and delete."""

import datetime
import pathlib
import threading
import uuid
from typing import Any

import pytest

from cyborg.clients import placement as placement_client
from cyborg.common import constants, exception
from cyborg.common import context as cyborg_context
from cyborg.conductor.binding import device_profiles, quota
from cyborg.conductor.placement import claiming
from cyborg.drivers import fake
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import arq_claim
from cyborg.objects.host_inventory import provider_uuid
from tests import binders
from tests.placement.conftest import Recorder, make_conf
from tests.placement.test_sync import FPGA, name, report

State = constants.ARQState
BOARD = {"resources:FPGA": "1", "trait:CUSTOM_FAKE_DEVICE": "required"}
GPU = {"resources:PGPU": "1", "trait:CUSTOM_FAKE_GPU": "required"}


def board_of(hostname: str) -> str:
    return provider_uuid(name(hostname, FPGA))


def gpus_of(hostname: str) -> list[str]:
    return [provider_uuid(name(hostname, f"FakeGPU{i}")) for i in (0, 1)]


def arqs_of(
    db: Any, profile: str, groups: list[dict[str, str]] | None = None, project: str = "p1"
) -> list[str]:
    """The ARQs of a profile, made first when ``groups`` are given."""
    if groups is not None:
        device_profiles.create_device_profile(db.context, name=profile, groups=groups)
    return binders.binder().create(db.context, device_profile_name=profile, project_id=project)


def bind(
    db: Any,
    claimer: Any,
    arqs: list[str],
    host: str,
    instance: str,
    *,
    limits: quota.Limits | None = None,
) -> None:
    binders.binder(claimer=claimer, limits=limits).bind(
        db.context,
        bindings={arq: {"hostname": host, "instance_uuid": instance} for arq in arqs},
    )


def allocations(client: placement_client.PlacementClient, consumer: str) -> dict[str, Any]:
    return client.get_consumer_allocations(consumer).allocations


def test_a_bind_picks_a_device_on_the_named_host_and_claims_it(
    db, conf, sync, client, claimer, host
) -> None:  # type: ignore[no-untyped-def]
    elsewhere = f"compute-{uuid.uuid4().hex[:8]}"
    client.create_provider(str(uuid.uuid4()), elsewhere)
    report(db, conf, sync, elsewhere, fake.default_inventory(elsewhere))
    (arq,) = arqs_of(db, "board", [BOARD])
    instance = str(uuid.uuid4())

    bind(db, claimer, [arq], host, instance)

    bound = arq_obj.get_by_uuid(db.context, arq)
    assert (bound.state, bound.hostname, bound.instance_uuid) == (State.BOUND, host, instance)
    assert bound.device_rp_uuid == board_of(host)
    assert bound.claimed_resources == {"FPGA": 1}
    assert bound.attach_handle_type == "TEST_PCI"
    consumer = client.get_consumer_allocations(instance)
    assert consumer.allocations == {board_of(host): {"FPGA": 1}}
    assert (consumer.project_id, consumer.consumer_type) == ("p1", "ACCELERATOR")
    assert client.get_provider_usages(board_of(elsewhere)) == {"FPGA": 0}


def test_the_arqs_of_one_instance_are_claimed_together(db, client, claimer, host) -> None:  # type: ignore[no-untyped-def]
    two_functions = arqs_of(db, "two", [{**BOARD, "resources:FPGA": "2"}])
    board_and_gpu = arqs_of(db, "mixed", [BOARD, GPU])
    first, second = str(uuid.uuid4()), str(uuid.uuid4())

    bind(db, claimer, two_functions, host, first)
    bind(db, claimer, board_and_gpu, host, second)

    assert allocations(client, first) == {board_of(host): {"FPGA": 2}}
    bound = arq_obj.get_all(db.context, uuids=two_functions)
    assert {a.state for a in bound} == {State.BOUND}
    assert len({a.attach_handle_uuid for a in bound}) == 2  # two functions of one board
    mixed = allocations(client, second)
    (gpu,) = set(mixed) - {board_of(host)}
    assert gpu in gpus_of(host)
    assert mixed == {board_of(host): {"FPGA": 1}, gpu: {"PGPU": 1}}
    assert client.get_provider_usages(board_of(host)) == {"FPGA": 3}


def test_of_two_instances_racing_for_the_last_gpu_one_wins(db, client, claimer, host) -> None:  # type: ignore[no-untyped-def]
    taken, free = gpus_of(host)
    client.put_allocations(
        str(uuid.uuid4()), {taken: {"PGPU": 1}}, project_id="nova", user_id="nova"
    )
    arqs = arqs_of(db, "gpu", [GPU]) + arqs_of(db, "gpu")
    start = threading.Barrier(len(arqs))
    errors: dict[str, Exception] = {}

    def race(arq: str) -> None:
        context = cyborg_context.get_admin_context()
        start.wait()
        try:
            binders.binder(claimer=claiming.Claimer(client)).bind(
                context,
                bindings={arq: {"hostname": host, "instance_uuid": str(uuid.uuid4())}},
            )
        except Exception as err:
            errors[arq] = err

    threads = [threading.Thread(target=race, args=(arq,)) for arq in arqs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    states = {arq: arq_obj.get_by_uuid(db.context, arq) for arq in arqs}
    (winner,) = [arq for arq, a in states.items() if a.state == State.BOUND]
    (loser,) = set(arqs) - {winner}
    assert list(errors) == [loser]
    assert isinstance(errors[loser], exception.NoFreeAccelerator)
    assert errors[loser].code == 409 and f"No free accelerator on host {host}" in str(
        errors[loser]
    )
    assert states[loser].state == State.BIND_FAILED
    assert f"No free accelerator on host {host}" in (states[loser].bind_failure_reason or "")
    assert states[loser].claimed_resources is None
    assert states[winner].device_rp_uuid == free
    assert client.get_provider_usages(free) == {"PGPU": 1}


def test_a_claim_that_loses_the_race_asks_placement_again(client, claimer, host) -> None:  # type: ignore[no-untyped-def]
    """Between reading the candidates and writing the allocation, another consumer takes
    the last GPU: Placement refuses the write (409), the claim asks again and finds
    nothing free."""
    for gpu in gpus_of(host)[:1]:
        client.put_allocations(str(uuid.uuid4()), {gpu: {"PGPU": 1}}, project_id="n", user_id="n")
    last = gpus_of(host)[1]
    ask = client.get_allocation_candidates
    asked: list[int] = []

    def candidates_then_a_rival_claims(query: Any) -> dict[str, Any]:
        body = ask(query)
        if not asked:
            client.put_allocations(
                str(uuid.uuid4()), {last: {"PGPU": 1}}, project_id="r", user_id="r"
            )
        asked.append(len(body["allocation_requests"]))
        return body

    client.get_allocation_candidates = candidates_then_a_rival_claims  # type: ignore[method-assign]
    group = claiming.GroupRequest("gpu", 0, ("a",), ({"PGPU": 1},), ("CUSTOM_FAKE_GPU",))
    consumer = str(uuid.uuid4())
    with pytest.raises(exception.NoFreeAccelerator):
        claimer.claim(consumer, host, [group], set(gpus_of(host)), project_id="p", user_id="u")
    assert asked == [1, 0]  # the last GPU was offered, then gone
    assert allocations(client, consumer) == {}


def test_unbind_and_delete_release_exactly_cyborgs_share(db, client, claimer, host) -> None:  # type: ignore[no-untyped-def]
    instance = str(uuid.uuid4())
    gpu = gpus_of(host)[0]
    # The consumer already holds a GPU, claimed by someone else (Nova, say).
    client.put_allocations(instance, {gpu: {"PGPU": 1}}, project_id="p1", user_id="nova")
    first, second = arqs_of(db, "two", [{**BOARD, "resources:FPGA": "2"}])

    bind(db, claimer, [first, second], host, instance)
    held = client.get_consumer_allocations(instance)
    assert held.allocations == {gpu: {"PGPU": 1}, board_of(host): {"FPGA": 2}}
    assert held.consumer_type == "INSTANCE"  # the consumer's own type is kept
    assert arq_claim.claimed_usage(db.context, "p1") == {"FPGA": 2}

    binders.binder(claimer=claimer).unbind(db.context, uuids=[first])
    assert allocations(client, instance) == {gpu: {"PGPU": 1}, board_of(host): {"FPGA": 1}}
    assert arq_obj.get_by_uuid(db.context, first).claimed_resources is None
    binders.binder(claimer=claimer).unbind(db.context, uuids=[first])  # idempotent
    assert allocations(client, instance) == {gpu: {"PGPU": 1}, board_of(host): {"FPGA": 1}}

    binders.binder(claimer=claimer).delete(db.context, instance_uuid=instance)
    assert allocations(client, instance) == {gpu: {"PGPU": 1}}
    assert arq_claim.claimed_usage(db.context, "p1") == {}

    # Deleted by uuid, with nothing else held: the consumer's allocations are gone.
    (third,) = arqs_of(db, "board", [BOARD])
    other = str(uuid.uuid4())
    bind(db, claimer, [third], host, other)
    binders.binder(claimer=claimer).delete(db.context, uuids=[third])
    assert allocations(client, other) == {}
    assert client.get_provider_usages(board_of(host)) == {"FPGA": 0}


def test_a_failed_handle_claim_gives_the_share_back(db, client, claimer, host) -> None:  # type: ignore[no-untyped-def]
    """Placement has the unit free but the board has no free handle left in Cyborg's
    database (out of step): the ARQ fails and nothing stays claimed."""
    handles = arqs_of(db, "all16", [{**BOARD, "resources:FPGA": "16"}])
    nova_instance = str(uuid.uuid4())
    binders.binder().bind(
        db.context,
        bindings={
            arq: {
                "hostname": host,
                "device_rp_uuid": board_of(host),
                "instance_uuid": nova_instance,
            }
            for arq in handles
        },
    )  # Nova's binds: every handle is taken, and Nova made no allocation here
    (arq,) = arqs_of(db, "board", [BOARD])
    instance = str(uuid.uuid4())
    with pytest.raises(exception.NoFreeAttachHandle):
        bind(db, claimer, [arq], host, instance)
    failed = arq_obj.get_by_uuid(db.context, arq)
    assert (failed.state, failed.claimed_resources) == (State.BIND_FAILED, None)
    assert allocations(client, instance) == {}


def test_a_nova_bind_leaves_allocations_alone(db, client, claimer, host) -> None:  # type: ignore[no-untyped-def]
    instance = str(uuid.uuid4())
    nova_made = {board_of(host): {"FPGA": 1}}
    client.put_allocations(instance, nova_made, project_id="p1", user_id="nova")
    (arq,) = arqs_of(db, "board", [BOARD])
    recorder = Recorder(client)

    binding = {"hostname": host, "device_rp_uuid": board_of(host), "instance_uuid": instance}
    binders.binder(claimer=claimer).bind(db.context, bindings={arq: binding})
    assert arq_obj.get_by_uuid(db.context, arq).state == State.BOUND
    assert arq_obj.get_by_uuid(db.context, arq).claimed_resources is None
    binders.binder(claimer=claimer).unbind(db.context, uuids=[arq])
    binders.binder(claimer=claimer).bind(db.context, bindings={arq: binding})
    binders.binder(claimer=claimer).delete(db.context, instance_uuid=instance)

    assert recorder.take() == []  # not one request to Placement
    assert allocations(client, instance) == nova_made


def test_a_standalone_bind_needs_placement(db) -> None:  # type: ignore[no-untyped-def]
    (arq,) = arqs_of(db, "board", [BOARD])
    with pytest.raises(exception.PlacementNotConfigured) as refused:
        bind(db, None, [arq], "host", str(uuid.uuid4()))
    assert refused.value.code == 503 and "device_rp_uuid" in refused.value.message
    assert arq_obj.get_by_uuid(db.context, arq).state == State.INITIAL


def test_a_host_unknown_to_placement_fails_the_bind(db, claimer) -> None:  # type: ignore[no-untyped-def]
    (arq,) = arqs_of(db, "board", [BOARD])
    with pytest.raises(exception.NoFreeAccelerator) as refused:
        bind(db, claimer, [arq], "nowhere-host", str(uuid.uuid4()))
    assert "no resource provider named nowhere-host" in refused.value.message
    assert arq_obj.get_by_uuid(db.context, arq).state == State.BIND_FAILED


def test_a_delete_that_cannot_release_stays_deleting_until_finished(
    db, tmp_path, client, claimer, host
) -> None:  # type: ignore[no-untyped-def]
    (arq,) = arqs_of(db, "board", [BOARD])
    instance = str(uuid.uuid4())
    bind(db, claimer, [arq], host, instance)
    # Placement unreachable: the delete is committed as Deleting and stops there.
    down = claiming.Claimer(placement_client.from_conf(make_conf(tmp_path, "http://127.0.0.1:9")))
    with pytest.raises(exception.CyborgException):
        binders.binder(claimer=down).delete(db.context, instance_uuid=instance)
    deleting = arq_obj.get_by_uuid(db.context, arq)
    assert deleting.state == State.DELETING  # resolved for Nova, not yet gone
    assert allocations(client, instance) == {board_of(host): {"FPGA": 1}}
    assert binders.binder().finish_abandoned_deletes(db.context, datetime.timedelta(hours=1)) == []
    assert binders.binder(claimer=claimer).finish_abandoned_deletes(
        db.context, datetime.timedelta(0)
    ) == [arq]
    with pytest.raises(exception.ARQNotFound):
        arq_obj.get_by_uuid(db.context, arq)
    assert allocations(client, instance) == {}


def test_an_unbind_that_cannot_release_is_unbind_failed_and_can_be_retried(
    db, tmp_path, client, claimer, host
) -> None:  # type: ignore[no-untyped-def]
    (arq,) = arqs_of(db, "board", [BOARD])
    instance = str(uuid.uuid4())
    bind(db, claimer, [arq], host, instance)
    down = claiming.Claimer(placement_client.from_conf(make_conf(tmp_path, "http://127.0.0.1:9")))
    with pytest.raises(exception.CyborgException):
        binders.binder(claimer=down).unbind(db.context, uuids=[arq])
    failed = arq_obj.get_by_uuid(db.context, arq)
    assert failed.state == State.UNBIND_FAILED
    assert failed.bind_failure_reason
    assert failed.attach_handle_uuid is not None  # still holds what it was bound to
    binders.binder(claimer=claimer).unbind(db.context, uuids=[arq])
    assert arq_obj.get_by_uuid(db.context, arq).state == State.UNBOUND
    assert allocations(client, instance) == {}


def test_two_gpus_placement_chooses_are_the_nvlinked_pair(
    db, conf, sync, client, claimer, hostname, compute_node
) -> None:  # type: ignore[no-untyped-def]
    """The PCIe-only L4 box with an NVLink bridge between GPU0 and GPU2: of the twelve
    ways Placement offers to place two GPUs, the bind takes the bridged pair."""
    from cyborg.drivers import nvidia_gpu
    from cyborg.objects import deployable as deployable_obj

    root = pathlib.Path(__file__).resolve().parents[1] / "fixtures/hosts/nvidia-pcie-4gpu"
    topo = (root / "var/lib/cyborg/nvidia-smi-topo-m.txt").read_text()
    topo = topo.replace("GPU0\t X \tPIX\tPXB", "GPU0\t X \tPIX\tNV4")
    topo = topo.replace("GPU2\tPXB\tPXB\t X ", "GPU2\tNV4\tPXB\t X ")
    driver = nvidia_gpu.NvidiaGPUDriver(conf, root=str(root), hostname=hostname, smi_topo=topo)
    report(db, conf, sync, hostname, driver.discover())
    rps = {d.name: d.rp_uuid for d in deployable_obj.get_all(db.context, hostname=hostname)}
    l4 = {"resources:PGPU": "1", "trait:CUSTOM_NVIDIA_27B8": "required"}
    instance = str(uuid.uuid4())

    bind(db, claimer, arqs_of(db, "two-l4", [l4, l4]), hostname, instance)

    bridged = {rps[f"{hostname}_0000:1c:00.0"], rps[f"{hostname}_0000:20:00.0"]}
    assert set(allocations(client, instance)) == bridged
