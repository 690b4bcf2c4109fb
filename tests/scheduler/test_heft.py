"""HEFT on the textbook example, and list scheduling by hand."""

import pytest

from cyborg.scheduler import heft
from cyborg.scheduler.evaluate import Evaluator
from tests.scheduler.helpers import (
    TEXTBOOK_COMPUTE,
    TEXTBOOK_EDGES,
    TEXTBOOK_RANKS,
    hand_model,
)


def test_upward_ranks_are_the_papers() -> None:
    ev = Evaluator(hand_model(TEXTBOOK_COMPUTE, TEXTBOOK_EDGES))
    assert heft.upward_ranks(ev) == pytest.approx(TEXTBOOK_RANKS, abs=1e-3)


def test_heft_schedule_is_the_papers() -> None:
    ev = Evaluator(hand_model(TEXTBOOK_COMPUTE, TEXTBOOK_EDGES))
    result = heft.heft(ev)
    # Figure 4 (a) of the paper: makespan 80, n1 n3 n5 n7 on P3, n4 n6 n9 n10 on P2.
    assert result.latency == 80.0
    assert [d + 1 for d in result.assignment] == [3, 1, 3, 2, 3, 2, 3, 1, 2, 2]
    assert result.order[0] == 0 and result.order[-1] == 9
    assert result.fits
    assert ev.latency_of(result.assignment, result.order) == 80.0


def test_heft_on_a_subset_uses_only_it() -> None:
    ev = Evaluator(hand_model(TEXTBOOK_COMPUTE, TEXTBOOK_EDGES))
    result = heft.heft(ev, devices=[1])
    assert set(result.assignment) == {1}
    assert result.latency == sum(row[1] for row in TEXTBOOK_COMPUTE)


def test_heft_respects_memory() -> None:
    # Two nodes of 600 MiB each, alive together (n2 reads n1's output, a dependency
    # without bytes): the fast device holds one only.
    mib = 2**20
    model = hand_model(
        [[1, 10], [1, 10]], [(0, 1, 0)], memory=[600 * mib, 600 * mib], capacity_mb=[1000, 1000]
    )
    result = heft.heft(Evaluator(model))
    assert sorted(result.assignment) == [0, 1]
    assert result.fits


def test_heft_reports_when_nothing_fits() -> None:
    mib = 2**20
    model = hand_model([[1, 1]], [], memory=[2000 * mib], capacity_mb=[1000, 1000])
    assert not heft.heft(Evaluator(model)).fits


def test_vector_path_agrees_with_loops(monkeypatch: pytest.MonkeyPatch) -> None:
    ev = Evaluator(hand_model(TEXTBOOK_COMPUTE, TEXTBOOK_EDGES, contention=True))
    for contention in (False, True):
        loops = heft.heft(ev, contention=contention)
        monkeypatch.setattr(heft, "VECTOR_FROM", 1)
        vector = heft.heft(ev, contention=contention)
        monkeypatch.setattr(heft, "VECTOR_FROM", 16)
        assert vector == loops


def test_list_schedule_waits_for_transfers_and_links() -> None:
    # n1 on d0 feeds n2 and n3 on d1 a tensor each: two transfers of 5 share the
    # d0 -> d1 link.
    edges = [(0, 1, 5, "a"), (0, 2, 5, "b")]
    model = hand_model([[1, 1], [2, 2], [2, 2]], edges, contention=True)
    ev = Evaluator(model)
    finish = ev.finish_times([0, 1, 1], [0, 1, 2])
    assert finish == [1.0, 1.0 + 5 + 2, 1.0 + 5 + 5 + 2]
    free_links = Evaluator(hand_model([[1, 1], [2, 2], [2, 2]], edges))
    assert free_links.finish_times([0, 1, 1], [0, 1, 2]) == [1.0, 8.0, 10.0]
