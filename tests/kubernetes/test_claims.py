"""Plans as ResourceClaims: valid in every supported release, and their selectors and
constraints allocate the planned devices (or devices like them) and no others."""

import json
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
import yaml

from cyborg.cmd import plan as plan_cmd
from cyborg.kubernetes import claims
from tests.kubernetes import schemas
from tests.kubernetes.dra_allocation import Device, allocations, resource_slices, slice_device

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "deploy" / "kubernetes" / "examples"
CLASSES = {
    document["metadata"]["name"]: document
    for document in yaml.safe_load_all((ROOT / "deploy/kubernetes/deviceclasses.yaml").read_text())
}
# One node: four H100s (two under root 3a, one more on NUMA 0, one on NUMA 1), an
# A100, two FPGAs (one under root 3a, one under root ae with the fourth H100), an SSD.
H100, A100, FPGA = "H100-SXM5-80GB", "A100-SXM4-80GB", "PAC-A10"
NODE = [
    slice_device("0000:3b:00.0", H100, pcie_root="pci0000:3a", uuid="GPU-aaaa"),
    slice_device("0000:3c:00.0", H100, pcie_root="pci0000:3a"),
    slice_device("0000:5e:00.0", H100, pcie_root="pci0000:5d"),
    slice_device("0000:af:00.0", H100, pcie_root="pci0000:ae", numa_node=1),
    slice_device("0000:d8:00.0", A100, pcie_root="pci0000:d7", numa_node=1),
    slice_device("0000:3d:00.0", FPGA, device_type="FPGA", pcie_root="pci0000:3a"),
    slice_device("0000:b0:00.0", FPGA, device_type="FPGA", pcie_root="pci0000:ae", numa_node=1),
    slice_device("0000:12:00.0", "P5800X", device_type="SSD", pcie_root="pci0000:11"),
]
A, B, C, D, E, F, G = (
    "pci-0000-3b-00-0",
    "pci-0000-3c-00-0",
    "pci-0000-5e-00-0",
    "pci-0000-af-00-0",
    "pci-0000-d8-00-0",
    "pci-0000-3d-00-0",
    "pci-0000-b0-00-0",
)


def gpu(device_id: str, **kwargs: Any) -> claims.PlannedDevice:
    return claims.PlannedDevice(device_id, kwargs.pop("model", H100), "node1", **kwargs)


def only_claim(devices: Sequence[claims.PlannedDevice], **options: Any) -> dict[str, Any]:
    (claim,) = claims.claims("plan", devices, claims.ClaimOptions(**options))
    schemas.validate(claim)
    return claim


def allocated(claim: Mapping[str, Any], node: Sequence[Device] = NODE) -> set[frozenset[Any]]:
    spec = claim["spec"]["spec"] if claim["kind"] == "ResourceClaimTemplate" else claim["spec"]
    return {frozenset(a) for a in allocations(spec, CLASSES, node)}


def test_sample_slices_are_valid_resource_slices() -> None:
    for resource_slice in resource_slices("node1", NODE):
        schemas.validate(resource_slice)


def test_one_gpu_gets_any_device_of_its_model_or_with_pin_the_planned_one() -> None:
    planned = [gpu("gpu0", pci_address="0000:3B:00.0", numa_node=0)]
    unpinned = only_claim(planned)
    assert allocated(unpinned) == {frozenset({("gpu-0", d)}) for d in (A, B, C, D)}
    assert "constraints" not in unpinned["spec"]["devices"]
    assert allocated(only_claim(planned, pin=True)) == {frozenset({("gpu-0", A)})}
    by_uuid = only_claim([gpu("gpu0", uuid="GPU-aaaa", pci_address="0000:3c:00.0")], pin=True)
    assert allocated(by_uuid) == {frozenset({("gpu-0", A)})}  # the uuid wins


def test_two_gpus_on_one_root_get_two_devices_of_one_root() -> None:
    planned = [
        gpu("gpu0", numa_node=0, pcie_root="pci0000:3a", pci_address="0000:3b:00.0"),
        gpu("gpu1", numa_node=0, pcie_root="pci0000:3a", pci_address="0000:3c:00.0"),
    ]
    claim = only_claim(planned)
    assert claim["spec"]["devices"]["constraints"] == [
        {"requests": ["gpu-0", "gpu-1"], "matchAttribute": "resource.kubernetes.io/pcieRoot"}
    ]  # one root is one NUMA node: no NUMA constraint on top
    assert allocated(claim) == {
        frozenset({("gpu-0", A), ("gpu-1", B)}),
        frozenset({("gpu-0", B), ("gpu-1", A)}),
    }
    assert allocated(only_claim(planned, pin=True)) == {frozenset({("gpu-0", A), ("gpu-1", B)})}
    loose = only_claim(planned, locality=False)
    assert frozenset({("gpu-0", A), ("gpu-1", D)}) in allocated(loose)


def test_two_gpus_on_one_numa_node_get_one_numa_node() -> None:
    claim = only_claim([gpu("gpu0", numa_node=0), gpu("gpu1", numa_node=0)])
    assert claim["spec"]["devices"]["constraints"] == [
        {"requests": ["gpu-0", "gpu-1"], "matchAttribute": "gpu.cyborg.openstack.org/numaNode"}
    ]
    pairs = {frozenset(d for _, d in a) for a in allocated(claim)}
    assert pairs == {frozenset(p) for p in ((A, B), (A, C), (B, C))}  # never D, on NUMA 1


def test_a_gpu_and_an_fpga_on_one_root() -> None:
    planned = [
        gpu("gpu0", numa_node=0, pcie_root="pci0000:3a", pci_address="0000:3b:00.0"),
        claims.PlannedDevice(
            "fpga0",
            FPGA,
            "node1",
            "FPGA",
            numa_node=0,
            pcie_root="pci0000:3a",
            pci_address="0000:3d:00.0",
        ),
    ]
    claim = only_claim(planned)
    requests = claim["spec"]["devices"]["requests"]
    assert [r["exactly"]["deviceClassName"] for r in requests] == [
        "gpu.cyborg.openstack.org",
        "fpga.cyborg.openstack.org",
    ]
    # Only the standard attribute spans two drivers: no numaNode constraint across them.
    assert claim["spec"]["devices"]["constraints"] == [
        {"requests": ["gpu-0", "fpga-0"], "matchAttribute": "resource.kubernetes.io/pcieRoot"}
    ]
    assert allocated(claim) == {
        frozenset({("gpu-0", A), ("fpga-0", F)}),
        frozenset({("gpu-0", B), ("fpga-0", F)}),
        frozenset({("gpu-0", D), ("fpga-0", G)}),
    }
    assert allocated(only_claim(planned, pin=True)) == {frozenset({("gpu-0", A), ("fpga-0", F)})}


def test_alternatives_are_a_prioritized_list() -> None:
    planned = [gpu("gpu0", alternatives=(A100,))]
    claim = only_claim(planned)
    (request,) = claim["spec"]["devices"]["requests"]
    assert [s["name"] for s in request["firstAvailable"]] == ["h100-sxm5-80gb", "a100-sxm4-80gb"]
    assert allocated(claim) == {frozenset({("gpu-0/h100-sxm5-80gb", d)}) for d in (A, B, C, D)}
    no_h100 = [d for d in NODE if d[1]["attributes"]["model"]["string"] != H100]
    assert allocated(claim, no_h100) == {frozenset({("gpu-0/a100-sxm4-80gb", E)})}
    unordered = only_claim(planned, prioritized=False)
    assert "exactly" in unordered["spec"]["devices"]["requests"][0]
    assert allocated(unordered) == {frozenset({("gpu-0", d)}) for d in (A, B, C, D, E)}


def test_constraints_name_the_parent_of_a_prioritized_request() -> None:
    planned = [
        gpu("gpu0", numa_node=1, alternatives=(A100,)),
        gpu("gpu1", numa_node=1, alternatives=(A100,)),
    ]
    claim = only_claim(planned)
    # Two H100s, A and D, on two NUMA nodes and an A100, E, on D's: two H100s cannot
    # share a node, an H100 and the A100 can.
    node = [d for d in NODE if d[1]["name"] in (A, D, E)]
    assert allocated(claim, node) == {
        frozenset({("gpu-0/h100-sxm5-80gb", D), ("gpu-1/a100-sxm4-80gb", E)}),
    }


def test_a_plan_across_hosts_is_one_claim_per_host() -> None:
    planned = [gpu("gpu0"), claims.PlannedDevice("gpu1", H100, "Node_2"), gpu("gpu2")]
    found = claims.claims("My Plan", planned, claims.ClaimOptions(namespace="ml"))
    assert [c["metadata"]["name"] for c in found] == ["my-plan-node1", "my-plan-node-2"]
    assert [len(c["spec"]["devices"]["requests"]) for c in found] == [2, 1]
    for claim in found:
        schemas.validate(claim)
    assert json.loads(found[0]["metadata"]["annotations"][claims.ANNOTATION_DEVICES]) == {
        "gpu-0": "gpu0",
        "gpu-1": "gpu2",
    }


def test_a_template_carries_the_plan_to_the_claims_it_makes() -> None:
    uuid = "3f2c9a7e-8d41-4b6a-9e0f-1c2d3e4f5a6b"
    template = only_claim([gpu("gpu0")], template=True, plan_uuid=uuid, namespace="ml")
    assert template["kind"] == "ResourceClaimTemplate"
    assert template["spec"]["metadata"]["labels"] == {claims.LABEL_PLAN: uuid}
    assert allocated(template) == {frozenset({("gpu-0", d)}) for d in (A, B, C, D)}


def test_a_peer_link_not_pinned_is_said_in_an_annotation() -> None:
    linked = [
        gpu("gpu0", peers=frozenset({"gpu1"}), pci_address="0000:3b:00.0"),
        gpu("gpu1", peers=frozenset({"gpu0"}), pci_address="0000:3c:00.0"),
    ]
    annotations = only_claim(linked)["metadata"]["annotations"]
    assert annotations[claims.ANNOTATION_UNMATCHED] == "peer-link:gpu-0+gpu-1"
    pinned = only_claim(linked, pin=True)["metadata"]["annotations"]
    assert claims.ANNOTATION_UNMATCHED not in pinned


@pytest.mark.parametrize(
    "devices, message",
    [
        ([], "no device"),
        ([gpu(f"g{i}") for i in range(33)], "at most 32"),
    ],
)
def test_plans_no_claim_can_express(devices, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(claims.ClaimError, match=message):
        claims.claims("plan", devices)


def test_claim_for_host_refuses_two_hosts() -> None:
    with pytest.raises(claims.ClaimError, match="one node"):
        claims.claim_for_host("p", [gpu("a"), claims.PlannedDevice("b", H100, "node2")])


def test_request_names_are_labels_by_kind() -> None:
    devices = [gpu("x"), claims.PlannedDevice("y", FPGA, "n", "FPGA"), gpu("z")]
    devices.append(claims.PlannedDevice("w", "P5800X", "n", "SSD"))
    assert claims.request_names(devices) == ["gpu-0", "fpga-0", "gpu-1", "nvme-0"]
    assert claims.label("--H100 SXM5 (80GB)--") == "h100-sxm5-80gb"
    assert claims.label("!!!") == "device"


# cyborg-plan --output resourceclaim|resourceclaimtemplate


GRAPH = {
    "name": "two-towers",
    "precision": "fp16",
    "nodes": [
        {"name": "a", "op_type": "MatMul", "flops": 4e12, "param_bytes": 1e9},
        {"name": "b", "op_type": "MatMul", "flops": 4e12, "param_bytes": 1e9},
        {"name": "c", "op_type": "Add", "flops": 1e6},
    ],
    "edges": [{"src": "a", "dst": "c", "bytes": 4096}, {"src": "b", "dst": "c", "bytes": 4096}],
}
DEVICES = {
    "devices": [
        {
            "id": "gpu0",
            "model": H100,
            "host": "node1",
            "numa_node": 0,
            "kubernetes": {"pcie_root": "pci0000:3a", "pci_address": "0000:3b:00.0"},
        },
        {
            "id": "gpu1",
            "model": H100,
            "host": "node1",
            "numa_node": 0,
            "kubernetes": {"pcie_root": "pci0000:3a", "pci_address": "0000:3c:00.0"},
        },
    ]
}


def _cli(tmp_path, capsys, *args: str):  # type: ignore[no-untyped-def]
    graph, devices = tmp_path / "graph.json", tmp_path / "devices.json"
    graph.write_text(json.dumps(GRAPH))
    devices.write_text(json.dumps(DEVICES))
    argv = [a.replace("GRAPH", str(graph)).replace("DEVICES", str(devices)) for a in args]
    code = plan_cmd.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_prints_a_valid_claim_of_its_plan(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = _cli(
        tmp_path, capsys, "GRAPH", "DEVICES", "--output", "resourceclaim", "--pin"
    )
    assert code == 0, err
    claim = yaml.safe_load(out)
    schemas.validate(claim)
    assert claim["metadata"]["name"] == "two-towers"
    used = json.loads(claim["metadata"]["annotations"][claims.ANNOTATION_DEVICES])
    assert set(used.values()) <= {"gpu0", "gpu1"}
    expected = {"gpu0": A, "gpu1": B}
    assert allocated(claim) == {frozenset((r, expected[d]) for r, d in used.items())}


def test_cli_template_as_json(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    args = ("GRAPH", "DEVICES", "--output", "resourceclaimtemplate", "--format", "json")
    code, out, err = _cli(tmp_path, capsys, *args, "--claim-name", "t", "--namespace", "ml")
    assert code == 0, err
    template = json.loads(out)
    schemas.validate(template)
    assert (template["kind"], template["metadata"]["namespace"]) == ("ResourceClaimTemplate", "ml")


def test_cli_renders_a_stored_plan(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    stored = str(EXAMPLES / "stored-plan.json")
    code, out, err = _cli(tmp_path, capsys, "--plan", stored, "--output", "resourceclaim", "--pin")
    assert code == 0, err
    claim = yaml.safe_load(out)
    schemas.validate(claim)
    assert claim["metadata"]["labels"] == {claims.LABEL_PLAN: json.loads(
        (EXAMPLES / "stored-plan.json").read_text())["uuid"]}  # fmt: skip
    node = [
        slice_device("0000:3b:00.0", A100, deployable="node1_0000:3b:00.0"),
        slice_device("0000:5e:00.0", A100, deployable="node1_0000:5e:00.0"),
        slice_device("0000:86:00.0", A100, deployable="node1_0000:86:00.0"),
    ]
    assert allocated(claim, node) == {frozenset({("gpu-0", A), ("gpu-1", C)})}


def test_the_guide_s_planned_claim_is_what_the_cli_prints(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    args = ("--plan", str(EXAMPLES / "stored-plan.json"), "--output", "resourceclaim", "--pin")
    code, out, err = _cli(tmp_path, capsys, *args, "--claim-name", "two-towers", "--namespace",
                          "default")  # fmt: skip
    assert code == 0, err
    example = next(yaml.safe_load_all((EXAMPLES / "planned-claim.yaml").read_text()))
    assert example == yaml.safe_load(out)


def test_cli_alternatives_and_hosts(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    stored = json.loads((EXAMPLES / "stored-plan.json").read_text())
    stored["result"]["devices"][1]["host"] = "node2"
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(stored))
    args = ("--plan", str(path), "--output", "resourceclaim", "--format", "json")
    code, out, err = _cli(tmp_path, capsys, *args, "--alternative", f"{A100}={H100}")
    assert code == 0, err
    listed = json.loads(out)
    assert listed["kind"] == "List"
    names = [c["metadata"]["name"] for c in listed["items"]]
    assert names == ["two-towers-node1", "two-towers-node2"]
    for claim in listed["items"]:
        schemas.validate(claim)
        (request,) = claim["spec"]["devices"]["requests"]
        subrequests = [s["name"] for s in request["firstAvailable"]]
        assert subrequests == ["a100-sxm4-80gb", "h100-sxm5-80gb"]
    unordered = ("--alternative", f"{A100}={H100}", "--no-prioritized-list")
    code, out, err = _cli(tmp_path, capsys, *args, *unordered)
    assert code == 0, err
    assert all("exactly" in c["spec"]["devices"]["requests"][0] for c in json.loads(out)["items"])


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("GRAPH", "DEVICES", "--output", "resourceclaim", "--alternative", "H100"),
            "MODEL=OTHER",
        ),
        (("GRAPH",), "give GRAPH and DEVICES"),
        (
            ("--plan", "DEVICES", "GRAPH", "DEVICES", "--output", "resourceclaim"),
            "at most DEVICES",
        ),
        (("--plan", "DEVICES"), "--plan renders a plan"),
        (("--plan", "GRAPH", "--output", "resourceclaim"), "plan "),
    ],
)
def test_cli_bad_input_exits_2(tmp_path, capsys, args, message) -> None:  # type: ignore[no-untyped-def]
    try:
        code, _, err = _cli(tmp_path, capsys, *args)
    except SystemExit as exit_:  # argparse's own errors
        code, err = int(exit_.code or 0), capsys.readouterr().err
    assert code == 2
    assert message in err


def test_cli_refuses_a_bad_kubernetes_entry(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    plan = tmp_path / "plan.json"
    plan.write_text((EXAMPLES / "stored-plan.json").read_text())
    devices = tmp_path / "bad-devices.json"
    entry = {"id": "g", "model": H100, "host": "n", "kubernetes": {"pci_address": "3b:00"}}
    devices.write_text(json.dumps({"devices": [entry]}))
    code = plan_cmd.main(["--plan", str(plan), str(devices), "--output", "resourceclaim"])
    assert code == 2
    assert "kubernetes.pci_address" in capsys.readouterr().err
