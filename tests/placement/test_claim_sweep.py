"""Units Cyborg claimed in a real Placement but never recorded on an ARQ are given back
after a grace period, and nothing else is: recorded claims, Nova's consumers and binds
still in progress keep theirs."""

import uuid
from typing import Any

import pytest

from cyborg.common import constants
from cyborg.conductor.binding import arqs as arq_checks
from cyborg.conductor.placement import claiming, sweep
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import arq_claim
from tests.placement.test_standalone_bind import BOARD, GPU, arqs_of, bind, board_of, gpus_of

GRACE = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sweeper(claimer: claiming.Claimer, clock: Clock) -> sweep.ClaimSweep:
    return sweep.ClaimSweep(claimer, grace=GRACE, clock=clock)


def leak(client: Any, rp_uuid: str, resources: dict[str, int], consumer: str | None = None) -> str:
    """Units on a provider for an ACCELERATOR consumer, as a claim whose record was lost."""
    consumer = consumer or str(uuid.uuid4())
    current = client.get_consumer_allocations(consumer)
    allocations = claiming.merged(current.allocations, {rp_uuid: resources})
    client.put_allocations(
        consumer,
        allocations,
        project_id="p1",
        user_id="u1",
        consumer_type=claiming.CONSUMER_TYPE,
        consumer_generation=current.generation,
    )
    return consumer


def twice(db: Any, sweeper: sweep.ClaimSweep, clock: Clock) -> list[sweep.Surplus]:
    """A sweep, then another once the grace period is over."""
    first = sweeper.sweep(db.context)
    clock.now += GRACE + 1
    return [first, sweeper.sweep(db.context)]


def test_a_claim_whose_record_was_lost_is_given_back_after_the_grace(
    db, client, claimer, host, sweeper, clock, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    (arq,) = arqs_of(db, "gpu", [GPU])
    instance = str(uuid.uuid4())

    def lost(*args: Any, **kwargs: Any) -> list[str]:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(arq_claim, "record_claims", lost)
    with pytest.raises(RuntimeError):
        bind(db, claimer, [arq], host, instance)
    monkeypatch.undo()
    assert arq_obj.get_by_uuid(db.context, arq).state == constants.ARQState.BIND_FAILED
    (taken,) = client.get_consumer_allocations(instance).allocations
    assert taken in gpus_of(host)

    first, second = twice(db, sweeper, clock)

    assert first == {}  # within the grace: a bind may still be recording it
    assert second == {(instance, taken): {"PGPU": 1}}
    assert client.get_consumer_allocations(instance).allocations == {}


def test_recorded_claims_novas_consumers_and_binds_in_progress_keep_their_units(
    db, client, claimer, host, sweeper, clock
) -> None:  # type: ignore[no-untyped-def]
    (recorded,) = arqs_of(db, "board", [BOARD])
    bound_instance = str(uuid.uuid4())
    bind(db, claimer, [recorded], host, bound_instance)
    nova_instance = str(uuid.uuid4())
    free_gpu = gpus_of(host)[0]
    client.put_allocations(
        nova_instance, {free_gpu: {"PGPU": 1}}, project_id="p1", user_id="nova"
    )  # consumer type INSTANCE: Nova's
    (binding,) = arqs_of(db, "gpu", [GPU])
    binding_instance = str(uuid.uuid4())
    arq_obj.update_state(
        db.context,
        binding,
        expected=arq_checks.BINDABLE_STATES,
        new_state=constants.ARQState.BIND_STARTED,
        hostname=host,
        instance_uuid=binding_instance,
    )
    leak(client, gpus_of(host)[1], {"PGPU": 1}, binding_instance)

    assert twice(db, sweeper, clock) == [{}, {}]

    assert client.get_consumer_allocations(bound_instance).allocations == {
        board_of(host): {"FPGA": 1}
    }
    assert client.get_consumer_allocations(nova_instance).allocations == {free_gpu: {"PGPU": 1}}
    assert client.get_consumer_allocations(binding_instance).allocations == {
        gpus_of(host)[1]: {"PGPU": 1}
    }


def test_only_the_surplus_beyond_the_records_goes(
    db, client, claimer, host, sweeper, clock
) -> None:  # type: ignore[no-untyped-def]
    (arq,) = arqs_of(db, "board", [BOARD])
    instance = str(uuid.uuid4())
    bind(db, claimer, [arq], host, instance)
    leak(client, board_of(host), {"FPGA": 2}, instance)  # 3 held, 1 recorded

    _, released = twice(db, sweeper, clock)

    assert released == {(instance, board_of(host)): {"FPGA": 2}}
    assert client.get_consumer_allocations(instance).allocations == {board_of(host): {"FPGA": 1}}
    assert arq_obj.get_by_uuid(db.context, arq).claimed_resources == {"FPGA": 1}


def test_a_surplus_that_changed_waits_a_whole_grace_again(
    db, client, host, sweeper, clock
) -> None:  # type: ignore[no-untyped-def]
    consumer = leak(client, board_of(host), {"FPGA": 1})
    assert sweeper.sweep(db.context) == {}
    leak(client, board_of(host), {"FPGA": 1}, consumer)  # now 2: a new claim meanwhile
    clock.now += GRACE + 1
    assert sweeper.sweep(db.context) == {}
    clock.now += GRACE + 1
    assert sweeper.sweep(db.context) == {(consumer, board_of(host)): {"FPGA": 2}}
