"""The Placement plan: desired providers from stored deployables, and the writes."""

from cyborg.conductor.placement import changes as pp
from cyborg.objects.host_inventory import provider_uuid
from cyborg.objects.provider import DeployableProvider


def deployable(name: str = "h_FakeDevice", **values: object) -> DeployableProvider:
    fields: dict[str, object] = {
        "name": name,
        "rp_uuid": provider_uuid(name),
        "num_accelerators": 4,
        "resource_class": "FPGA",
        "traits": ("CUSTOM_FAKE_DEVICE",),
        "disabled": False,
    }
    fields.update(values)
    return DeployableProvider(**fields)  # type: ignore[arg-type]


def actual(provider: pp.DesiredProvider, **values: object) -> pp.ActualProvider:
    fields: dict[str, object] = {
        "uuid": provider.uuid,
        "name": provider.name,
        "generation": 3,
        "inventories": provider.inventories,
        "traits": provider.traits,
    }
    fields.update(values)
    return pp.ActualProvider(**fields)  # type: ignore[arg-type]


def test_a_deployable_makes_one_provider_with_owner_trait() -> None:
    [provider], problems = pp.desired_providers([deployable()])
    assert problems == []
    assert provider.uuid == provider_uuid("h_FakeDevice")
    assert provider.traits == {"CUSTOM_FAKE_DEVICE", "OWNER_CYBORG"}
    assert provider.inventories == {
        "FPGA": {
            "total": 4,
            "reserved": 0,
            "min_unit": 1,
            "max_unit": 4,
            "step_size": 1,
            "allocation_ratio": 1.0,
        }
    }


def test_a_row_without_rp_uuid_gets_the_derived_one() -> None:
    [provider], _ = pp.desired_providers([deployable(rp_uuid=None)])
    assert provider.uuid == provider_uuid("h_FakeDevice")


def test_a_disabled_device_is_reserved_whole() -> None:
    [provider], _ = pp.desired_providers([deployable(disabled=True)])
    assert provider.inventories["FPGA"]["reserved"] == 4


def test_invalid_classes_traits_and_empty_deployables_are_reported() -> None:
    providers, problems = pp.desired_providers(
        [
            deployable("a", resource_class=""),
            deployable("b", resource_class="fpga"),
            deployable("c", num_accelerators=0),
            deployable(
                "d",
                traits=(
                    "CUSTOM_OK",
                    "CUSTOM_BAD-",
                    "NOT_A_TRAIT",
                    "HW_GPU_CUDA_COMPUTE_CAPABILITY_V1_0",
                ),
            ),
        ]
    )
    assert [p.name for p in providers] == ["d"]
    assert providers[0].traits == {
        "CUSTOM_OK",
        "HW_GPU_CUDA_COMPUTE_CAPABILITY_V1_0",
        "OWNER_CYBORG",
    }
    assert len(problems) == 4
    assert "CUSTOM_BAD-, NOT_A_TRAIT" in problems[3]


def test_nothing_to_do_when_placement_matches() -> None:
    desired, _ = pp.desired_providers([deployable()])
    assert pp.change_set(desired, [actual(desired[0])]).empty


def test_new_changed_and_gone_providers() -> None:
    desired, _ = pp.desired_providers(
        [deployable("new"), deployable("grown", num_accelerators=8), deployable("retraited")]
    )
    by_name = {p.name: p for p in desired}
    old_grown = pp.desired_providers([deployable("grown")])[0][0]
    gone = pp.desired_providers([deployable("gone")])[0][0]
    plan = pp.change_set(
        desired,
        [
            actual(by_name["grown"], inventories=old_grown.inventories),
            actual(by_name["retraited"], traits=frozenset({"OWNER_CYBORG"})),
            actual(gone),
        ],
    )
    assert [p.name for p in plan.create] == ["new"]
    assert [a.name for a in plan.set_inventories] == ["grown"]
    assert plan.set_inventories[0].inventories["FPGA"]["total"] == 8
    assert [a.name for a in plan.set_traits] == ["retraited"]
    assert [a.name for a in plan.delete] == ["gone"]
    assert plan.traits == {"CUSTOM_FAKE_DEVICE", "OWNER_CYBORG"}
    assert plan.resource_classes == {"FPGA"}


def test_a_provider_in_use_keeps_its_classes_reserved() -> None:
    old = pp.desired_providers([deployable()])[0][0]
    new = pp.desired_providers([deployable(resource_class="CUSTOM_ACCEL")])[0][0]
    [change] = pp.change_set([new], [actual(old)]).set_inventories
    kept = pp.keep_in_use(change)
    assert kept is not None
    assert kept["FPGA"]["reserved"] == kept["FPGA"]["total"] == 4
    assert kept["CUSTOM_ACCEL"]["reserved"] == 0

    [delete] = pp.change_set([], [actual(old)]).delete
    reserved = pp.keep_in_use(delete)
    assert reserved == {"FPGA": {**old.inventories["FPGA"], "reserved": 4}}
    # Once reserved, keeping it writes nothing more.
    assert pp.keep_in_use(pp.DeleteProvider(delete.uuid, delete.name, reserved)) is None


def test_providers_named_like_ours() -> None:
    assert pp.looks_ours(provider_uuid("h_FakeDevice"), "h_FakeDevice")
    assert not pp.looks_ours("9f8e1a0e-2cf6-4b1a-8a56-6a3f1b1d9c11", "h_FakeDevice")
