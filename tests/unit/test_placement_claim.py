"""The pure parts of standalone binds: request groups, candidate choice, allocation
arithmetic, the bind patch at 2.4 and the quotas' 403s."""

import datetime

import pytest
from oslo_limit import exception as limit_exc

from cyborg.api import arq_patch, microversion
from cyborg.common import exception
from cyborg.conductor.binding import quota
from cyborg.conductor.placement import claiming, nvlinked
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects.schedulable import Schedulable

RP_A, RP_B, ROOT = (
    "aaaaaaaa-0000-4000-8000-000000000001",
    "bbbbbbbb-0000-4000-8000-000000000002",
    "r",
)
ARQ = "11111111-2222-4333-8444-555555555555"
VM = "66666666-7777-4888-8999-000000000000"


def arq(
    id_: int, group: dict[str, str], group_id: int = 0, profile: str = "p"
) -> arq_obj.AcceleratorRequest:
    return arq_obj.AcceleratorRequest(
        id=id_, uuid=f"arq-{id_}", state="BindStarted", project_id="p1", device_profile_id=1,
        device_profile_name=profile, device_profile_group=group,
        device_profile_group_id=group_id, hostname="h", device_rp_uuid=None,
        instance_uuid=VM, attach_handle_id=None, deployable_id=None,
        created_at=datetime.datetime(2026, 1, 1), updated_at=None, bind_failure_reason=None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("resources", "count", "shares"),
    [
        ({"FPGA": 2}, 2, [{"FPGA": 1}, {"FPGA": 1}]),
        ({"FPGA": 1}, 2, [{"FPGA": 1}, {}]),  # Xilinx: two PCI functions, one unit
        ({"CUSTOM_A": 1, "FPGA": 1}, 2, [{"CUSTOM_A": 1}, {"FPGA": 1}]),
        ({"FPGA": 3}, 2, [{"FPGA": 1}, {"FPGA": 2}]),  # more units than ARQs: the last
    ],
)
def test_each_arq_of_a_group_takes_one_unit(resources, count, shares) -> None:  # type: ignore[no-untyped-def]
    assert claiming.split_units(resources, count) == shares


def test_groups_become_numbered_request_groups_in_the_hosts_tree() -> None:
    fpga = {"resources:FPGA": "2", "trait:CUSTOM_X": "required", "trait:CUSTOM_Y": "forbidden"}
    groups = claiming.group_requests(
        [arq(3, fpga), arq(1, fpga), arq(2, {"resources:PGPU": "1", "accel:k": "v"}, 1)]
    )
    assert [(g.group_id, g.arq_uuids, g.resources) for g in groups] == [
        (0, ("arq-1", "arq-3"), {"FPGA": 2}),
        (1, ("arq-2",), {"PGPU": 1}),
    ]
    assert claiming.candidate_query(groups, ROOT) == [
        ("resources1", "FPGA:2"),
        ("required1", "CUSTOM_X,!CUSTOM_Y"),
        ("in_tree1", ROOT),
        ("resources2", "PGPU:1"),
        ("in_tree2", ROOT),
        ("group_policy", "none"),
    ]


def test_a_group_asking_for_nothing_is_refused() -> None:
    with pytest.raises(exception.Invalid, match="asks for no resources"):
        claiming.group_requests([arq(1, {"trait:CUSTOM_X": "required"})])


def test_the_first_candidate_on_our_providers_is_picked() -> None:
    body = {
        "allocation_requests": [
            {"allocations": {"nova-rp": {}}, "mappings": {"1": ["nova-rp"]}},
            {"allocations": {RP_A: {}, RP_B: {}}, "mappings": {"1": [RP_B], "2": [RP_A]}},
        ]
    }
    assert claiming.pick(body, 2, {RP_A, RP_B}) == [RP_B, RP_A]
    assert claiming.pick(body, 2, {RP_A}) is None
    assert claiming.pick({"allocation_requests": []}, 1, {RP_A}) is None


def _candidate(*rps: str) -> dict:
    return {
        "allocations": {rp: {"PGPU": 1} for rp in rps},
        "mappings": {str(i): [rp] for i, rp in enumerate(rps, start=1)},
    }


def test_the_candidate_with_most_nvlinked_pairs_is_picked() -> None:
    # GPUs a-b on one switch without NVLink; c-d bridged; a-c-d on a partial mesh.
    body = {"allocation_requests": [_candidate("a", "b"), _candidate("c", "d")]}
    links = {"c": frozenset({"d"}), "d": frozenset({"c"})}
    ours = {"a", "b", "c", "d"}
    assert claiming.pick(body, 2, ours) == ["a", "b"]  # no links: the first, as before
    assert claiming.pick(body, 2, ours, links) == ["c", "d"]
    # Equal pairs: the first candidate; a candidate not ours never wins on links.
    assert claiming.pick(body, 2, {"a", "b"}, links) == ["a", "b"]
    tied = {"allocation_requests": [_candidate("a", "b"), _candidate("b", "a")]}
    assert claiming.pick(tied, 2, ours, links) == ["a", "b"]


def _row(name: str, address: str | None, rp: str | None, **attributes: str) -> Schedulable:
    return Schedulable(
        deployable_uuid=f"uuid-{name}", deployable_name=name, rp_uuid=rp, hostname="h",
        device_type="GPU", vendor="10de", model="m", attributes=attributes,
        pci_address=address,
    )  # fmt: skip


def test_nvlinks_by_provider_from_the_drivers_peer_addresses() -> None:
    peers = '[{"links": 12, "peer": "0000:0F:00.0", "type": "nvlink"}]'
    rows = [
        _row("g0", "0000:07:00.0", "rp0", peer_links=peers),
        _row("g1", "0000:0f:00.0", "rp1"),  # the link is declared on one side
        _row("g2", "0000:47:00.0", "rp2", peer_links="not json"),
        _row("g3", "0000:87:00.0", None, peer_links='[{"peer": "0000:07:00.0"}]'),
    ]
    links = nvlinked.providers_linked(rows)
    assert links == {"rp0": frozenset({"rp1"}), "rp1": frozenset({"rp0"})}
    assert nvlinked.linked_pairs(["rp0", "rp1", "rp2"], links) == 1
    # A GPU in MIG mode: two deployables at its address, so no peer to name.
    mig = [*rows, _row("g1-mig", "0000:0f:00.0", "rp1b")]
    assert nvlinked.providers_linked(mig) == {}


def test_claims_add_to_and_releases_subtract_from_the_consumers_allocations() -> None:
    nova = {RP_A: {"VCPU": 2}}
    claimed = claiming.merged(nova, {RP_A: {"FPGA": 1}, RP_B: {"PGPU": 1}})
    assert claimed == {RP_A: {"VCPU": 2, "FPGA": 1}, RP_B: {"PGPU": 1}}
    assert claiming.subtracted(claimed, {RP_A: {"FPGA": 1}, RP_B: {"PGPU": 1}}) == nova
    assert claiming.subtracted(nova, {RP_A: {"VCPU": 5}}) == {}


def _bind(*paths: str) -> dict[str, list[dict[str, str]]]:
    values = {"/hostname": "h", "/instance_uuid": VM, "/device_rp_uuid": RP_A}
    return {ARQ: [{"op": "add", "path": p, "value": values[p]} for p in paths]}


def test_from_2_4_a_bind_may_leave_out_the_device() -> None:
    body = _bind("/hostname", "/instance_uuid")
    with pytest.raises(exception.Invalid, match=r"from microversion 2\.4"):
        arq_patch.parse(body, microversion.Version(2, 3), False)
    assert arq_patch.parse(body, microversion.Version(2, 4), False) == (
        {ARQ: {"hostname": "h", "instance_uuid": VM}},
        [],
    )
    with pytest.raises(exception.Invalid, match="/instance_uuid"):
        arq_patch.parse(_bind("/hostname", "/device_rp_uuid"), microversion.Version(2, 4), False)


def test_config_limits_and_the_403_name_limit_usage_and_request() -> None:
    usage = {"class:FPGA": 3, "class:PGPU": 0}
    limits = quota.ConfigLimits({"FPGA": 4, "PGPU": 0}, lambda project, names: usage)
    quota.enforce(limits, "p", {"FPGA": 1, "CUSTOM_QAT": 99})  # QAT: no limit
    with pytest.raises(exception.QuotaExceeded) as over:
        quota.enforce(limits, "p", {"FPGA": 2, "PGPU": 1})
    assert over.value.code == 403
    assert over.value.message == (
        "Quota exceeded for project p: class:FPGA limit 4, usage 3, requested 2; "
        "class:PGPU limit 0, usage 0, requested 1"
    )
    with pytest.raises(limit_exc.ProjectOverLimit):
        limits.enforce("p", {"class:FPGA": 2})


def test_the_arq_quota_names_limit_usage_and_request() -> None:
    quota.enforce_arq_count(None, "p", 10**6, 10**6)  # unlimited
    quota.enforce_arq_count(8, "p", 5, 3)
    with pytest.raises(exception.QuotaExceeded) as over:
        quota.enforce_arq_count(8, "p", 6, 3)
    assert over.value.code == 403
    assert over.value.message == (
        "Quota exceeded for project p: accelerator_requests limit 8, usage 6, requested 3"
    )
    quota.enforce_arq_count(8, "p", 8, 3, recheck=True)  # the 3 are in the usage
    with pytest.raises(exception.QuotaExceeded, match="usage 9 with this request"):
        quota.enforce_arq_count(8, "p", 9, 3, recheck=True)
