"""Blocking and overlapped transfers, and one transfer per tensor and device, on
graphs worked out by hand; then the searches' tables against the evaluator's."""

import dataclasses
import random

import pytest

from cyborg.scheduler import device_json, heft, local_search, replay, synthetic
from cyborg.scheduler.costs import build_cost_model
from cyborg.scheduler.devices import Device, DeviceSet, Interconnect, PeerLink, link_between
from cyborg.scheduler.evaluate import LINK_EFFICIENCY, Evaluator
from cyborg.scheduler.exact import solve_exact
from cyborg.scheduler.simulator import simulate
from tests.scheduler.helpers import FPGA, H100, T4, hand_model

# n1 (1 s) on d0 sends 5 bytes (5 s) to n2 (2 s) on d1; n3 (4 s) on d0 reads nothing.
COMPUTE = [[1, 1], [2, 2], [4, 4]]
EDGES = [(0, 1, 5)]
ASSIGNMENT, ORDER = [0, 1, 0], [0, 1, 2]


@pytest.mark.parametrize(
    ("blocking", "step"),
    [
        # n3 runs on d0 while the tensor moves: n2 ends at 1 + 5 + 2.
        (False, 8.0),
        # d0 is busy sending from 1 to 6, so n3 runs from 6 to 10.
        (True, 10.0),
    ],
)
def test_blocking_versus_overlapped_step(blocking: bool, step: float) -> None:
    model = hand_model(COMPUTE, EDGES, contention=True, blocking=blocking)
    ev = Evaluator(model)
    assert ev.latency_of(ASSIGNMENT, ORDER) == step
    assert simulate(model, ASSIGNMENT, ORDER).makespan_s == step
    assert max(replay.replay(ev, ASSIGNMENT, ORDER)) == step


def test_blocking_transfers_load_both_ends() -> None:
    overlapped = Evaluator(hand_model(COMPUTE, EDGES, contention=True))
    assert overlapped.loads(ASSIGNMENT) == ([5.0, 2.0], [5.0, 0.0])
    assert overlapped.period_of(ASSIGNMENT) == pytest.approx(5.0 / LINK_EFFICIENCY)
    blocking = Evaluator(hand_model(COMPUTE, EDGES, contention=True, blocking=True))
    # d0: 1 + 4 of compute and 5 of sending; d1: 2 of compute and 5 of receiving.
    assert blocking.loads(ASSIGNMENT) == ([10.0, 7.0], [5.0, 0.0])
    assert blocking.period_of(ASSIGNMENT) == 10.0


# n1 on d0 feeds n2, n3 and n4 on d1: one tensor of 5 bytes, or three named ones.
FAN_COMPUTE = [[1, 1], [1, 1], [1, 1], [1, 1]]
FAN_ASSIGNMENT, FAN_ORDER = [0, 1, 1, 1], [0, 1, 2, 3]
MIB = 2**20


def test_a_tensor_read_by_three_consumers_moves_once() -> None:
    edges = [(0, 1, 5 * MIB), (0, 2, 5 * MIB), (0, 3, 5 * MIB)]
    model = hand_model(FAN_COMPUTE, edges, transfer_per_byte=1 / MIB, contention=True)
    ev = Evaluator(model)
    # One transfer 1 -> 6, then n2, n3, n4 one after the other on d1.
    assert ev.finish_times(FAN_ASSIGNMENT, FAN_ORDER) == [1.0, 7.0, 8.0, 9.0]
    assert ev.moves(FAN_ASSIGNMENT) == [(0, 1, 5.0)]
    assert ev.loads(FAN_ASSIGNMENT)[1] == [5.0, 0.0]
    result = simulate(model, FAN_ASSIGNMENT, FAN_ORDER)
    assert result.transfers == 1 and result.makespan_s == 9.0
    assert result.peak_memory_bytes[1] == 5 * MIB  # stored once
    assert ev.memory_of(FAN_ASSIGNMENT, FAN_ORDER)[1] == 5 * MIB
    assert max(replay.replay(ev, FAN_ASSIGNMENT, FAN_ORDER)) == 9.0


def test_three_named_tensors_move_three_times() -> None:
    edges = [(0, 1, 5, "a"), (0, 2, 5, "b"), (0, 3, 5, "c")]
    ev = Evaluator(hand_model(FAN_COMPUTE, edges, contention=True))
    assert ev.finish_times(FAN_ASSIGNMENT, FAN_ORDER) == [1.0, 7.0, 12.0, 17.0]
    assert simulate(ev.model, FAN_ASSIGNMENT, FAN_ORDER).transfers == 3
    assert ev.loads(FAN_ASSIGNMENT)[1] == [15.0, 0.0]


def _device(dev_id: str, model: str, **fields: object) -> dict[str, object]:
    return {"id": dev_id, "model": model, "host": "h1", **fields}


def test_modes_from_the_catalog_devices_and_links() -> None:
    document = {
        "devices": [
            _device("gpu0", H100, peer_links=[{"peer": "gpu1", "transfers": "blocking"}]),
            _device("gpu1", H100),
            _device("fpga0", FPGA),
            _device(
                "cpu0",
                "my-cpu",
                memory_mb=1024,
                peak_tflops={"fp32": 1},
                memory_bandwidth_gbps=100,
                transfers="blocking",
            ),
        ]
    }
    devices = device_json.devices_from_dict(document)
    gpu0, gpu1, fpga0, cpu0 = devices.devices
    assert [d.transfers for d in devices.devices] == ["overlap"] * 3 + ["blocking"]
    ic = devices.interconnect
    peer = link_between(gpu0, gpu1, ic)
    assert (peer.kind, peer.blocks_sender, peer.blocks_receiver) == ("peer", True, True)
    pcie = link_between(gpu0, fpga0, ic)  # both overlap: copy engines, the shell's DMA
    assert (pcie.blocks_sender, pcie.blocks_receiver) == (False, False)
    to_cpu = link_between(fpga0, cpu0, ic)  # only the blocking end is held
    assert (to_cpu.blocks_sender, to_cpu.blocks_receiver) == (False, True)
    again = device_json.devices_from_dict(device_json.devices_to_dict(devices))
    assert again == devices


def test_an_interconnect_class_sets_both_ends() -> None:
    a = Device("a", "x", "h1", 1024, {"fp32": 1.0}, 100.0)
    b = dataclasses.replace(a, id="b", host="h2")
    blocking = Interconnect(network_transfers="blocking")
    link = link_between(a, b, blocking)
    assert (link.kind, link.blocks_sender, link.blocks_receiver) == ("network", True, True)
    assert not link_between(a, b, Interconnect()).blocks_sender
    c = dataclasses.replace(a, id="c", links=(PeerLink("a", "nvlink", 100.0),))
    assert not link_between(c, a, blocking).blocks_receiver  # a peer link, not the network
    with pytest.raises(device_json.json_input.InputFormatError):
        device_json.devices_from_dict({"devices": [_device("g", H100, transfers="sometimes")]})


def _blocking_set(models: list[str], hosts: int) -> DeviceSet:
    devices = synthetic.device_set(models, hosts=hosts)
    blocking = tuple(
        dataclasses.replace(d, transfers="blocking" if k % 2 else "overlap")
        for k, d in enumerate(devices.devices)
    )
    return DeviceSet(blocking, devices.interconnect)


@pytest.mark.parametrize("seed", range(4))
def test_heft_builds_the_evaluators_schedule(seed: int) -> None:
    model = build_cost_model(
        synthetic.random_dag(40, seed), _blocking_set([H100, T4, FPGA, T4], 1 + seed % 2)
    )
    ev = Evaluator(model)
    result = heft.heft(ev, contention=True)
    assert result.latency == pytest.approx(ev.latency_of(result.assignment, result.order))


@pytest.mark.parametrize("seed", range(4))
def test_local_search_tables_follow_moves(seed: int) -> None:
    """The throughput search's incremental loads equal the evaluator's after moves
    (a tensor counted once per device, blocking ends loaded)."""
    model = build_cost_model(synthetic.random_dag(30, seed), _blocking_set([H100, T4, FPGA], 2))
    ev = Evaluator(model)
    rng = random.Random(seed)
    assignment = [rng.randrange(ev.m) for _ in range(ev.n)]
    state = local_search._Loads(ev, list(assignment))
    for _ in range(60):
        state.move(rng.randrange(ev.n), rng.randrange(ev.m))
        device, link = ev.loads(state.assignment)
        assert state.device == pytest.approx(device)
        assert state.link == pytest.approx(link)
        assert state.routes == pytest.approx(ev.route_loads(state.assignment))


@pytest.mark.parametrize("objective", ["latency", "throughput"])
def test_the_oracle_models_blocking_and_shared_tensors(objective: str) -> None:
    model = hand_model(FAN_COMPUTE, [(0, 1, 5), (0, 2, 5), (0, 3, 5)], blocking=True)
    ev = Evaluator(model)
    exact = solve_exact(model, objective, time_limit_s=None, work_limit=20.0)
    assert exact is not None and exact.optimal
    assert exact.value == pytest.approx(ev.cost(objective, exact.assignment, exact.order))
    # Moving the tensor (5 s, both ends busy) costs more than running all on one device.
    assert exact.value == pytest.approx(4.0)
