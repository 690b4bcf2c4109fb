"""The scheduler's candidates from inventory rows, and measurements as step samples."""

import dataclasses
import json
import pathlib

import pytest
from oslo_config import cfg

import cyborg.conf
from cyborg.common import exception
from cyborg.conductor.plans import candidate_devices, device_scope, planning
from cyborg.drivers import nvidia_gpu
from cyborg.objects.schedulable import Schedulable
from cyborg.scheduler import catalog

NO_LIMITS = device_scope.Constraints()


def _row(
    name: str, device_model: str = "A100", host: str = "h1", **attributes: str
) -> Schedulable:
    return Schedulable(
        deployable_uuid=f"uuid-{name}",
        deployable_name=name,
        rp_uuid=f"rp-{name}",
        hostname=host,
        device_type="GPU",
        vendor="10de",
        model=device_model,
        attributes=attributes,
    )


def test_attributes_and_catalog_make_devices() -> None:
    rows = [
        _row("g0", device_model="H100-SXM5-80GB", numa_node="1", peer_links="g1"),
        _row("g1", device_model="H100-SXM5-80GB"),
        _row(
            "f0",
            model="PAC",
            host="h2",
            memory_mb="8192",
            peak_tflops_fp32="1.2",
            memory_bandwidth_gbps="460",
        ),
        _row("x0", device_model="mystery"),
        _row("a0", device_model="A100"),
    ]
    candidates = candidate_devices.build(rows)
    devices = {d.id: d for d in candidates.devices.devices}
    assert set(devices) == {"uuid-g0", "uuid-g1", "uuid-f0"}
    g0 = devices["uuid-g0"]
    assert (g0.host, g0.numa_node, g0.memory_mb) == ("h1", 1, 80 * 1024)
    assert [(k.peer, k.type, k.bandwidth_gbps) for k in g0.links] == [("uuid-g1", "nvlink", 450.0)]
    assert devices["uuid-f0"].peak_tflops == {"fp32": 1.2}
    assert "not in the catalog" in candidates.skipped["x0"]
    assert set(candidates.skipped) == {"x0", "a0"}


def test_model_attribute_names_the_catalog_entry_and_bad_numbers_skip() -> None:
    candidates = candidate_devices.build(
        [_row("a", model="A100-SXM4-80GB"), _row("b", memory_mb="lots")]
    )
    assert [d.model for d in candidates.devices.devices] == ["A100-SXM4-80GB"]
    assert "not a number" in candidates.skipped["b"]


def test_the_transfers_attribute_sets_the_communication_mode() -> None:
    candidates = candidate_devices.build(
        [
            _row("a", model="A100-SXM4-80GB", transfers="blocking"),
            _row("b", model="A100-SXM4-80GB"),
            _row("c", model="A100-SXM4-80GB", transfers="sometimes"),
        ]
    )
    assert [d.transfers for d in candidates.devices.devices] == ["blocking", "overlap"]
    assert "sometimes" in candidates.skipped["c"]


def test_placement_keeps_free_providers_only() -> None:
    body = {"allocation_requests": [{"allocations": {"rp-g1": {"resources": {"PGPU": 1}}}}]}
    rows = [_row("g0", device_model="T4"), _row("g1", device_model="T4", rc="PGPU")]
    candidates = candidate_devices.build(rows, candidate_devices.free_providers(body))
    assert [d.id for d in candidates.devices.devices] == ["uuid-g1"]
    assert candidates.skipped == {"g0": "not free in Placement"}


def test_a_profile_asks_placement_for_one_unit_with_its_traits() -> None:
    group = device_scope.profile_group(
        "p", [{"resources:PGPU": "1", "trait:CUSTOM_A": "required", "trait:CUSTOM_B": "forbidden"}]
    )
    rows = [
        _row("ok", rc="PGPU", trait0="CUSTOM_A"),
        _row("no-a", rc="PGPU"),
        _row("has-b", rc="PGPU", trait0="CUSTOM_A", trait1="CUSTOM_B"),
        _row("fpga", rc="FPGA", trait0="CUSTOM_A"),
    ]
    assert [r.deployable_name for r in device_scope.select(rows, group, NO_LIMITS)] == ["ok"]
    assert device_scope.placement_queries(rows, group) == [
        [("resources1", "PGPU:1"), ("required1", "CUSTOM_A,!CUSTOM_B")]
    ]
    assert device_scope.placement_queries(rows, None) == [
        [("resources1", "FPGA:1")],
        [("resources1", "PGPU:1")],
    ]


@pytest.mark.parametrize(
    "groups",
    [
        [],
        [{"resources:PGPU": "2"}],
        [{"resources:PGPU": "1", "resources:FPGA": "1"}],
        [{"resources:PGPU": "1"}, {"resources:PGPU": "1"}],
        [{"trait:CUSTOM_A": "required"}],
    ],
)
def test_a_profile_plans_only_with_one_unit_of_one_class(groups) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exception.Invalid, match="one unit of one resource class"):
        device_scope.profile_group("p", groups)


def test_constraints_allow_hosts_and_models() -> None:
    rows = [_row("a", host="h1"), _row("b", host="h2"), _row("c", device_model="T4", host="h2")]
    scope = device_scope.Constraints.from_dict({"hosts": ["h2"], "device_models": ["A100"]})
    assert [r.deployable_name for r in device_scope.select(rows, None, scope)] == ["b"]
    by_model = device_scope.Constraints.from_dict({"device_models": ["T4"]})
    assert [r.deployable_name for r in device_scope.select(rows, None, by_model)] == ["c"]
    assert list(device_scope.by_host(rows)) == ["h1", "h2"]


def test_per_device_times_credit_the_devices_named() -> None:
    result = {
        "estimated_step_s": 0.01,
        "devices": [
            {
                "id": "d0",
                "model": "T4",
                "compute_s": 0.006,
                "predicted_by_op_s": {"MatMul": 0.005},
            },
            {"id": "d1", "model": "A100", "compute_s": 0.002, "predicted_by_op_s": {"Add": 0.002}},
        ],
    }
    samples = planning.step_samples(result, 0.5, {"d1": 0.003})
    assert [(s.device_model, s.measured_s) for s in samples] == [("A100", 0.003)]


def test_a_measured_step_scales_each_devices_compute() -> None:
    result = {
        "estimated_step_s": 0.01,
        "devices": [
            {"model": "T4", "compute_s": 0.006, "predicted_by_op_s": {"MatMul": 0.005}},
            {"model": "A100", "compute_s": 0.002, "predicted_by_op_s": {"Add": 0.002}},
            {"model": "A100", "compute_s": 0.0, "predicted_by_op_s": {}},
        ],
    }
    samples = planning.step_samples(result, 0.02)
    assert [(s.device_model, s.measured_s) for s in samples] == [
        ("T4", pytest.approx(0.012)),
        ("A100", pytest.approx(0.004)),
    ]
    assert planning.step_samples({"estimated_step_s": 0, "devices": []}, 1.0) == []
    # A throughput plan's step time is per step in steady state: against the stage time.
    piped = {**result, "objective": "throughput", "estimated_stage_s": 0.005}
    assert [s.measured_s for s in planning.step_samples(piped, 0.01)] == [
        pytest.approx(0.012),
        pytest.approx(0.004),
    ]


def _driver_rows(host: str) -> list[Schedulable]:
    """What the NVIDIA driver reports for a recorded host, as the conductor stores it."""
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([], default_config_files=[])
    root = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "hosts" / host
    rows = []
    for device in nvidia_gpu.NvidiaGPUDriver(conf, root=str(root), hostname="dgx").discover():
        path = json.loads(device.controlpath)
        for deployable in device.deployables:
            rows.append(
                Schedulable(
                    deployable_uuid=f"uuid-{deployable.name}",
                    deployable_name=deployable.name,
                    rp_uuid=None,
                    hostname="dgx",
                    device_type=device.type,
                    vendor=device.vendor,
                    model=device.model,
                    # As reported: "NVIDIA A100-SXM4-80GB" is a catalog alias.
                    attributes=dict(deployable.attributes),
                    pci_address="{domain}:{bus}:{device}.{function}".format(**path),
                )
            )
    return rows


def test_dgx_driver_peer_links_become_nvlinks_between_candidates() -> None:
    rows = _driver_rows("nvidia-dgx-a100")
    candidates = candidate_devices.build(rows)
    assert candidates.skipped == {}
    devices = {d.id: d for d in candidates.devices.devices}
    assert len(devices) == 8
    assert {d.model for d in devices.values()} == {"A100-SXM4-80GB"}  # no operator attribute
    for device_id, device in devices.items():
        # Twelve NVLinks of 25 GB/s each way to each of the seven others.
        assert {k.peer for k in device.links} == set(devices) - {device_id}
        assert {(k.type, k.bandwidth_gbps) for k in device.links} == {("nvlink", 300.0)}
    entry = candidate_devices.device_entry(rows[0], candidate_devices.PeerIds.of(rows))
    assert entry["kubernetes"] == {"pcie_root": "pci0000:00"}


def test_peers_by_address_stay_on_their_host_and_skip_shared_addresses() -> None:
    links = '[{"links": 4, "peer": "0000:3B:00.0", "type": "nvlink"}]'
    rows = [
        _row("a", device_model="H100-SXM5-80GB", peer_links=links),
        _row("b", device_model="H100-SXM5-80GB", host="h2"),  # 0000:3b:00.0 elsewhere
    ]
    rows[1] = dataclasses.replace(rows[1], pci_address="0000:3b:00.0")
    assert candidate_devices.build(rows).devices.devices[0].links == ()
    rows[1] = dataclasses.replace(rows[1], hostname="h1")
    (a, _) = candidate_devices.build(rows).devices.devices
    assert [(k.peer, k.bandwidth_gbps) for k in a.links] == [("uuid-b", 100.0)]
    # Two deployables at one address (MIG instances): no peer to name.
    mig = dataclasses.replace(rows[1], deployable_uuid="uuid-c", deployable_name="c")
    assert candidate_devices.build([*rows, mig]).devices.devices[0].links == ()


# nvidia-smi's names (``--query-gpu=name``, ``-q -x`` product_name) of the catalog's cards.
SMI_NAMES = {
    "NVIDIA H100 80GB HBM3": "H100-SXM5-80GB",
    "NVIDIA H200": "H200-SXM5-141GB",
    "NVIDIA A100-SXM4-80GB": "A100-SXM4-80GB",
    "Tesla T4": "T4",
}


@pytest.mark.parametrize("product", sorted(SMI_NAMES))
def test_real_product_names_plan_as_their_catalog_models(product: str) -> None:
    # What the NVIDIA driver reports: memory and, from its table, FP32/FP16 peaks; no
    # memory bandwidth, which the catalog gives.
    row = _row("g0", device_model=product, memory_mb="81559", peak_tflops_fp32="19.5")
    candidates = candidate_devices.build([row])
    assert candidates.skipped == {}
    (device,) = candidates.devices.devices
    spec = catalog.CATALOG[SMI_NAMES[product]]
    assert (device.model, device.memory_bandwidth_gbps) == (
        spec.model,
        spec.memory_bandwidth_gbps,
    )
    assert device.memory_mb == 81559.0  # the reported figure wins over the catalog's
    assert device_scope.scheduler_model(row) == spec.model
    # The catalog name is what device_models constraints and learned factors use.
    only = device_scope.Constraints(device_models=frozenset({spec.model}))
    assert device_scope.select([row], None, only) == [row]


def test_product_names_of_other_cards_are_not_taken_for_catalog_ones() -> None:
    for other in ("NVIDIA H100 PCIe", "NVIDIA A100-SXM4-40GB", "NVIDIA L4", "NVIDIA H200 NVL"):
        assert catalog.catalog_model(other) is None, other
        candidates = candidate_devices.build([_row("g0", device_model=other, memory_mb="1")])
        assert "is not in the catalog" in candidates.skipped["g0"]
    assert catalog.catalog_model("  nvidia   h200 ") == "H200-SXM5-141GB"
    assert catalog.catalog_model("t4") == "T4"
    assert catalog.catalog_model(None) is None


def test_the_t4_fixture_host_plans_as_reported() -> None:
    rows = [r for r in _driver_rows("nvidia-t4-vgpu") if r.attributes.get("rc") != "VGPU"]
    assert rows and {r.model for r in rows} == {"Tesla T4"}
    candidates = candidate_devices.build(rows)
    assert candidates.skipped == {}
    assert {d.model for d in candidates.devices.devices} == {"T4"}


def test_no_plan_names_the_devices_skipped_and_why() -> None:
    refused = planning.refusal(planning.NO_DEVICE, {"b": "not free in Placement", "a": "x"})
    assert refused.message == (
        "No plan: no schedulable device in the inventory; skipped a: x; b: not free in Placement"
    )
    many = {f"d{i:02}": "why" for i in range(planning.MAX_LISTED + 3)}
    assert planning.refusal("r", many).message.endswith("d09: why; and 3 more")
    assert planning.refusal("r", {}).message == "No plan: r"


def test_why_a_device_is_left_out() -> None:
    group = device_scope.ProfileGroup("p", "PGPU", ("CUSTOM_A", "!CUSTOM_B"))
    fpga = _row("f", rc="FPGA")
    plain = _row("g", rc="PGPU")
    both = _row("h", rc="PGPU", trait0="CUSTOM_A", trait1="CUSTOM_B")
    fit = _row("i", device_model="T4", rc="PGPU", trait0="CUSTOM_A")
    assert device_scope.why_not(fpga, group, NO_LIMITS) == (
        "resource class FPGA, the profile asks for PGPU"
    )
    assert device_scope.why_not(plain, group, NO_LIMITS) == "without trait CUSTOM_A"
    assert device_scope.why_not(both, group, NO_LIMITS) == "has forbidden trait CUSTOM_B"
    assert device_scope.why_not(fit, group, NO_LIMITS) == ""
    elsewhere = device_scope.Constraints(hosts=frozenset({"h9"}))
    assert device_scope.why_not(fit, None, elsewhere) == "host h1 not in the constraints' hosts"
    models = device_scope.Constraints(device_models=frozenset({"H100-SXM5-80GB"}))
    assert device_scope.why_not(fit, None, models) == (
        "model T4 not in the constraints' device_models"
    )
