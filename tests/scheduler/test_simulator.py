"""The discrete-event simulator on cases worked out by hand."""

import pytest

from cyborg.scheduler.simulator import simulate, steady_period
from tests.scheduler.helpers import hand_model

MIB = 2**20


def test_a_chain_over_two_devices() -> None:
    model = hand_model([[2, 9], [9, 3]], [(0, 1, 4)])
    result = simulate(model, [0, 1], [0, 1])
    assert result.makespan_s == 2 + 4 + 3
    assert result.transfers == 1
    assert result.busy_s == (2.0, 3.0)


def test_a_link_carries_one_transfer_at_a_time() -> None:
    # n1 on d0 feeds n2 and n3 on d1 a tensor each over one link: the second waits.
    edges = [(0, 1, 5, "a"), (0, 2, 5, "b")]
    model = hand_model([[1, 1], [1, 1], [1, 1]], edges, contention=True)
    assert simulate(model, [0, 1, 1], [0, 1, 2]).makespan_s == 1 + 5 + 5 + 1
    free = hand_model([[1, 1], [1, 1], [1, 1]], edges)
    assert simulate(free, [0, 1, 1], [0, 1, 2]).makespan_s == 1 + 5 + 1 + 1


def test_static_order_versus_ready_order() -> None:
    # d0 runs n1, n2, n4 in that order; n2 needs n3, which d1 runs after n1 (4 s).
    model = hand_model([[1, 1], [1, 1], [4, 4], [1, 1]], [(0, 2, 0), (2, 1, 0)])
    assignment, order = [0, 0, 1, 0], [0, 2, 1, 3]
    # Static: n4 waits behind n2 -> 1 + 4 + 1 + 1.
    assert simulate(model, assignment, order).makespan_s == 7
    # Ready: d0 runs n4 while n2 waits -> 1 + 4 + 1.
    assert simulate(model, assignment, order, policy="ready").makespan_s == 6


def test_pipelined_steps_run_at_the_slowest_stage() -> None:
    model = hand_model([[2, 2], [3, 3]], [(0, 1, 1)])
    result = simulate(model, [0, 1], [0, 1], batches=10, policy="ready")
    assert result.makespan_s == pytest.approx(2 + 1 + 3 * 10)
    period, longer = steady_period(model, [0, 1], [0, 1], batches=4)
    assert period == pytest.approx(3.0)
    assert longer.makespan_s == pytest.approx(2 + 1 + 3 * 8)


def test_memory_over_time_and_out_of_memory() -> None:
    # n1 (300 MiB out) -> n2 (200 MiB) on d0; n1's output is freed when n2 finishes, so
    # the peak is 500 MiB; a 400 MiB device is out of memory.
    memory = [300 * MIB, 200 * MIB]
    ok = simulate(
        hand_model([[1, 1], [1, 1]], [(0, 1, 0)], memory=memory, capacity_mb=[600, 600]),
        [0, 0],
        [0, 1],
    )
    assert ok.peak_memory_bytes[0] == 500 * MIB and ok.out_of_memory == ()
    small = hand_model([[1, 1], [1, 1]], [(0, 1, 0)], memory=memory, capacity_mb=[400, 600])
    assert simulate(small, [0, 0], [0, 1]).out_of_memory == ("d0",)


def test_a_non_topological_order_is_refused() -> None:
    model = hand_model([[1], [1]], [(0, 1, 0)])
    with pytest.raises(ValueError, match="not topological"):
        simulate(model, [0, 0], [1, 0])
