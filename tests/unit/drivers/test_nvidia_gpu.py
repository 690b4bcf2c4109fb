"""The NVIDIA GPU driver on recorded hosts (tests/fixtures/hosts/nvidia-*)."""

import json
import pathlib
import shutil

import pytest
from oslo_config import cfg

import cyborg.conf
from cyborg.common import mig as mig_geometry
from cyborg.conf import gpu_devices
from cyborg.drivers import nvidia_gpu
from cyborg.drivers.base import AttachHandleReport, DeployableReport, DeviceReport

HOSTS = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
A100 = HOSTS / "nvidia-a100-mig"
T4 = HOSTS / "nvidia-t4-vgpu"
BOARD = '{"controller": "3D controller", "product_id": "%s"}'


@pytest.fixture
def conf() -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([], default_config_files=[])
    return conf


def enable_vgpu(conf: cfg.ConfigOpts, **addresses: list[str]) -> None:
    """enable_vgpu(conf, nvidia_223=["0000:3b:00.0"]): type names with "-" as "_"."""
    types = {name.replace("_", "-"): value for name, value in addresses.items()}
    conf.set_override("enabled_vgpu_types", list(types), "gpu_devices")
    gpu_devices.register_dynamic_opts(conf)
    for vgpu_type, value in types.items():
        conf.set_override("device_addresses", value, f"vgpu_{vgpu_type}")


def discover(conf: cfg.ConfigOpts, root: pathlib.Path, **kwargs: str) -> list[DeviceReport]:
    driver = nvidia_gpu.NvidiaGPUDriver(conf, root=str(root), hostname="compute-1", **kwargs)
    return driver.discover()


def info(address: str, **extra: str) -> str:
    domain, bus, rest = address.split(":")
    device, function = rest.split(".")
    fields = {"bus": bus, "device": device, "domain": domain, "function": function, **extra}
    return json.dumps(fields, sort_keys=True)


def pci(address: str) -> AttachHandleReport:
    return AttachHandleReport("PCI", info(address))


def mdev(address: str, vgpu_type: str, n: int) -> AttachHandleReport:
    return AttachHandleReport(
        "MDEV", info(address, asked_type=vgpu_type, vgpu_mark=f"{vgpu_type}_{n}")
    )


# What nvidia-smi tells of each recorded GPU, by (product id, NUMA node).
IDENTITY = {
    ("20b0", 0): (
        "GPU-5d1e9b8c-2f4a-4c1e-9a52-7be0c6f3a101",
        "535.129.03",
        "NVIDIA A100-SXM4-40GB",
    ),
    ("20b0", 1): (
        "GPU-a83c44e1-6b0d-4f77-8e2a-0c9d2b7e5f42",
        "535.129.03",
        "NVIDIA A100-SXM4-40GB",
    ),
    ("1eb8", 0): ("GPU-3f1e4c5d-8a9b-4c2d-b1e0-9f8e7d6c5b4a", "535.154.02", "Tesla T4"),
    ("1eb8", 1): ("GPU-7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d", "535.154.02", "Tesla T4"),
}
# The root complex each recorded GPU's sysfs entry resolves under.
PCIE_ROOTS = {
    ("20b0", 0): "pci0000:3a",
    ("20b0", 1): "pci0000:85",
    ("1eb8", 0): "pci0000:3a",
    ("1eb8", 1): "pci0000:d7",
}


def facts(
    numa: int, link: str, product: str, smi: bool = True, **more: str
) -> tuple[tuple[str, str], ...]:
    values = {"numa_node": str(numa), "pcie_link": link, "product_id": product, **more}
    values.setdefault("pcie_root", PCIE_ROOTS[(product, numa)])
    if smi:
        uuid, version, name = IDENTITY[(product, numa)]
        values.update(device_uuid=uuid, driver_version=version, product_name=name)
    return tuple(sorted(values.items()))


A100_TRAITS = ("OWNER_CYBORG", "CUSTOM_NVIDIA_20B0")


def mig(gi: int, rc: str, memory: str) -> DeployableReport:
    return DeployableReport(
        name=f"compute-1_0000:3b:00.0_mig_{gi}_0",
        num_accelerators=1,
        resource_class=rc,
        driver_name="NVIDIA",
        traits=A100_TRAITS,
        attributes=facts(0, "16GT/s x16", "20b0", memory_mb=memory),
    )


def a100(address: str, *deployables: DeployableReport) -> DeviceReport:
    return DeviceReport(
        type="GPU",
        vendor="10de",
        model="NVIDIA A100-SXM4-40GB",
        controlpath=info(address),
        std_board_info=BOARD % "20b0",
        deployables=deployables,
    )


A100_MIG_GPU = a100(
    "0000:3b:00.0",
    mig(1, "CUSTOM_NVIDIA_MIG_4G_20GB", "19968"),
    mig(5, "CUSTOM_NVIDIA_MIG_2G_10GB", "9856"),
    mig(13, "CUSTOM_NVIDIA_MIG_1G_5GB", "4864"),
)
A100_PEAK = {"memory_mb": "40960", "peak_tflops_fp16": "312", "peak_tflops_fp32": "19.5"}


def a100_pgpu(*handles: AttachHandleReport) -> DeviceReport:
    return a100(
        "0000:86:00.0",
        DeployableReport(
            name="compute-1_0000:86:00.0",
            num_accelerators=len(handles),
            resource_class="PGPU",
            driver_name="NVIDIA",
            traits=A100_TRAITS,
            attributes=facts(1, "16GT/s x16", "20b0", **A100_PEAK),
            attach_handles=handles,
        ),
    )


def test_a100_host_mig_instances_and_one_whole_gpu(conf: cfg.ConfigOpts) -> None:
    # The four VFs of 0000:86:00.0 are not GPUs of their own; the NVSwitch is no GPU.
    assert discover(conf, A100) == [A100_MIG_GPU, a100_pgpu(pci("0000:86:00.0"))]


def test_vfs_as_handles_of_their_gpu_when_not_filtered(conf: cfg.ConfigOpts) -> None:
    conf.set_override("filter_sriov_vfs", False, "gpu_devices")
    vfs = [pci(f"0000:86:00.{fn}") for fn in range(4, 8)]
    assert discover(conf, A100) == [A100_MIG_GPU, a100_pgpu(*vfs)]


def test_vgpu_slots_on_the_vfs_of_an_sriov_gpu(conf: cfg.ConfigOpts) -> None:
    enable_vgpu(conf, nvidia_472=["0000:86:00.0"])
    # The first VF holds one mdev already (available 0), the others have one free slot.
    handles = tuple(mdev(f"0000:86:00.{4 + n}", "nvidia-472", n) for n in range(4))
    vgpu = DeployableReport(
        name="compute-1_0000:86:00.0",
        num_accelerators=4,
        resource_class="VGPU",
        driver_name="NVIDIA",
        traits=("OWNER_CYBORG", "CUSTOM_NVIDIA_20B0_A100_10C"),
        attributes=facts(1, "16GT/s x16", "20b0", memory_mb="10240"),
        attach_handles=handles,
    )
    assert discover(conf, A100) == [A100_MIG_GPU, a100("0000:86:00.0", vgpu)]


# A MIG-backed vGPU type as NVIDIA's vGPU manager shows it on each VF of an A100 whose
# operator made two 3g.20gb GPU instances: every VF offers one slot, the GPU two.
MIG_BACKED = {
    "name": "GRID A100-3-20C",
    "description": "num_heads=1, frl_config=60, framebuffer=20480M, "
    "max_resolution=4096x2400, max_instance=2",
    "device_api": "vfio-pci",
    "create": "",
}


def with_mig_backed_type(tmp_path: pathlib.Path, holding: dict[str, str]) -> pathlib.Path:
    """A copy of the A100 host whose VFs of 0000:86:00.0 offer nvidia-699; ``holding``
    maps a VF to the uuid of the nvidia-699 mdev it holds already."""
    root = tmp_path / "host"
    shutil.copytree(A100, root, symlinks=True)
    for fn in range(4, 8):
        vf = f"0000:86:00.{fn}"
        type_dir = root / "sys/class/mdev_bus" / vf / "mdev_supported_types" / "nvidia-699"
        (type_dir / "devices").mkdir(parents=True)
        for file_name, text in MIG_BACKED.items():
            (type_dir / file_name).write_text(f"{text}\n" if text else "")
        (type_dir / "available_instances").write_text("0\n" if vf in holding else "1\n")
        if vf in holding:
            (type_dir / "devices" / holding[vf]).mkdir()
    return root


def mig_backed_vgpu(*vfs: str) -> DeviceReport:
    return a100(
        "0000:86:00.0",
        DeployableReport(
            name="compute-1_0000:86:00.0",
            num_accelerators=len(vfs),
            resource_class="VGPU",
            driver_name="NVIDIA",
            traits=(
                "OWNER_CYBORG",
                "CUSTOM_NVIDIA_20B0_A100_3_20C",
                "CUSTOM_NVIDIA_MIG_BACKED_VGPU",
            ),
            attributes=facts(1, "16GT/s x16", "20b0", memory_mb="20480"),
            attach_handles=tuple(mdev(vf, "nvidia-699", n) for n, vf in enumerate(vfs)),
        ),
    )


def test_mig_backed_vgpu_slots_stop_at_the_types_max_instance(
    conf: cfg.ConfigOpts, tmp_path: pathlib.Path
) -> None:
    enable_vgpu(conf, nvidia_699=["0000:86:00.0"])
    root = with_mig_backed_type(tmp_path, holding={})
    # Four VFs offer one slot each; the GPU hosts two: the first two VFs carry them.
    expected = mig_backed_vgpu("0000:86:00.4", "0000:86:00.5")
    assert discover(conf, root) == [A100_MIG_GPU, expected]


def test_a_vf_holding_a_mig_backed_mdev_keeps_its_slot(
    conf: cfg.ConfigOpts, tmp_path: pathlib.Path
) -> None:
    enable_vgpu(conf, nvidia_699=["0000:86:00.0"])
    root = with_mig_backed_type(
        tmp_path, holding={"0000:86:00.6": "9d0f1e2a-3b4c-4d5e-8f60-718293a4b5c6"}
    )
    # .6 holds one (available 0, one mdev); .4 and .7 still offer theirs: .4 and .5 first.
    assert discover(conf, root)[1] == mig_backed_vgpu("0000:86:00.4", "0000:86:00.5")


def test_mdev_slots_cap_and_order() -> None:
    def mdev_type(parent: str, slots: int, most: int | None) -> nvidia_gpu.MdevType:
        return nvidia_gpu.MdevType(parent, "GRID A100-10C", slots, 10240, most)

    types = [
        mdev_type("a", 1, 2),
        mdev_type("b", 0, 2),
        mdev_type("c", 1, 2),
        mdev_type("d", 1, 2),
    ]
    assert nvidia_gpu.mdev_slots(types) == [("a", 1), ("c", 1)]
    # Without max_instance in the description every slot counts.
    assert nvidia_gpu.mdev_slots([mdev_type("a", 3, None), mdev_type("b", 2, None)]) == [
        ("a", 3),
        ("b", 2),
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("GRID A100-3-20C", True),
        ("NVIDIA H100-1-10C", True),
        ("NVIDIA H200-7-141C", True),
        ("GRID A100-10C", False),
        ("GRID T4-2B", False),
        (None, False),
    ],
)
def test_mig_backed_type_names(name: str | None, expected: bool) -> None:
    assert nvidia_gpu.MdevType("0000:86:00.4", name, 1, None).mig_backed is expected


def test_mig_profiles_without_the_listing_come_from_the_xml(conf: cfg.ConfigOpts) -> None:
    (gpu, _) = discover(conf, A100, smi_list="")
    assert [d.resource_class for d in gpu.deployables] == [
        "CUSTOM_NVIDIA_MIG_56SM_20GB",
        "CUSTOM_NVIDIA_MIG_28SM_10GB",
        "CUSTOM_NVIDIA_MIG_14SM_5GB",
    ]


T4_TRAITS = ("OWNER_CYBORG", "CUSTOM_NVIDIA_1EB8")
T4_PEAK = {"memory_mb": "15360", "peak_tflops_fp16": "65", "peak_tflops_fp32": "8.1"}


def t4(address: str, numa: int, deployable: DeployableReport | None = None) -> DeviceReport:
    deployable = deployable or DeployableReport(
        name=f"compute-1_{address}",
        num_accelerators=1,
        resource_class="PGPU",
        driver_name="NVIDIA",
        traits=T4_TRAITS,
        attributes=facts(numa, "8GT/s x16", "1eb8", **T4_PEAK),
        attach_handles=(pci(address),),
    )
    return DeviceReport(
        type="GPU",
        vendor="10de",
        model="Tesla T4",
        controlpath=info(address),
        std_board_info=BOARD % "1eb8",
        deployables=(deployable,),
    )


def test_t4_host_without_vgpu_configured_is_two_whole_gpus(conf: cfg.ConfigOpts) -> None:
    assert discover(conf, T4) == [t4("0000:3b:00.0", 0), t4("0000:d8:00.0", 1)]


def test_t4_vgpu_slots_count_free_and_existing_mdevs(conf: cfg.ConfigOpts) -> None:
    enable_vgpu(conf, nvidia_223=["0000:3b:00.0"], nvidia_222=["0000:d8:00.0"])
    first = DeployableReport(
        name="compute-1_0000:3b:00.0",
        num_accelerators=8,  # 6 available + 2 created
        resource_class="VGPU",
        driver_name="NVIDIA",
        traits=("OWNER_CYBORG", "CUSTOM_NVIDIA_1EB8_T4_2B"),
        attributes=facts(0, "8GT/s x16", "1eb8", memory_mb="2048"),
        attach_handles=tuple(mdev("0000:3b:00.0", "nvidia-223", n) for n in range(8)),
    )
    second = DeployableReport(
        name="compute-1_0000:d8:00.0",
        num_accelerators=16,
        resource_class="VGPU",
        driver_name="NVIDIA",
        traits=("OWNER_CYBORG", "CUSTOM_NVIDIA_1EB8_T4_1B"),
        attributes=facts(1, "8GT/s x16", "1eb8", memory_mb="1024"),
        attach_handles=tuple(mdev("0000:d8:00.0", "nvidia-222", n) for n in range(16)),
    )
    assert discover(conf, T4) == [t4("0000:3b:00.0", 0, first), t4("0000:d8:00.0", 1, second)]


def test_a_gpu_without_slots_of_its_vgpu_type_is_left_out(conf: cfg.ConfigOpts) -> None:
    # nvidia-222 is full on 0000:3b:00.0 (it holds nvidia-223 mdevs); nvidia-999 is unknown.
    enable_vgpu(conf, nvidia_222=["0000:3b:00.0"], nvidia_999=["0000:d8:00.0"])
    assert discover(conf, T4) == []


def test_a_gpu_under_two_vgpu_types_gets_the_first(conf: cfg.ConfigOpts) -> None:
    enable_vgpu(conf, nvidia_223=["0000:3B:00.0"], nvidia_234=["0000:3b:00.0"])
    (first, _) = discover(conf, T4)
    assert first.deployables[0].traits[1] == "CUSTOM_NVIDIA_1EB8_T4_2B"


def test_an_unregistered_vgpu_group_leaves_the_gpu_whole(conf: cfg.ConfigOpts) -> None:
    conf.set_override("enabled_vgpu_types", ["nvidia-223"], "gpu_devices")
    assert discover(conf, T4) == [t4("0000:3b:00.0", 0), t4("0000:d8:00.0", 1)]


def test_without_nvidia_smi_output_facts_come_from_sysfs(
    conf: cfg.ConfigOpts, tmp_path: pathlib.Path
) -> None:
    shutil.copytree(A100 / "sys", tmp_path / "sys", symlinks=True)
    reports = discover(conf, tmp_path)
    assert [r.model for r in reports] == ["NVIDIA 20b0", "NVIDIA 20b0"]
    assert [d.resource_class for r in reports for d in r.deployables] == ["PGPU", "PGPU"]
    assert reports[0].deployables[0].attributes == facts(0, "16GT/s x16", "20b0", smi=False)


@pytest.mark.parametrize("xml", ["not xml at all", "<nvidia_smi_log><gpu id='junk'/>", "<a/>"])
def test_unusable_nvidia_smi_xml_is_ignored(conf: cfg.ConfigOpts, xml: str) -> None:
    reports = discover(conf, A100, smi_xml=xml)
    assert [r.model for r in reports] == ["NVIDIA 20b0", "NVIDIA 20b0"]


def test_xml_values_that_do_not_parse_are_left_out(conf: cfg.ConfigOpts) -> None:
    xml = (A100 / "var/lib/cyborg/nvidia-smi-q-x.xml").read_text()
    xml = xml.replace("<total>40960 MiB</total>", "<total>N/A</total>")
    xml = xml.replace("<total>19968 MiB</total>", "<total>N/A</total>")
    (gpu, whole) = discover(conf, A100, smi_xml=xml)
    assert dict(gpu.deployables[0].attributes).get("memory_mb") is None
    assert "memory_mb" not in dict(whole.deployables[0].attributes)


def test_empty_root_has_no_gpus(conf: cfg.ConfigOpts, tmp_path: pathlib.Path) -> None:
    assert discover(conf, tmp_path) == []


def test_garbage_sysfs_files_do_not_crash(conf: cfg.ConfigOpts, tmp_path: pathlib.Path) -> None:
    shutil.copytree(T4, tmp_path / "host", symlinks=True)
    gpu = tmp_path / "host/sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0"
    (gpu / "numa_node").write_text("zero\n")
    (gpu / "current_link_speed").write_text("\x00\xff")
    types = gpu / "mdev_supported_types"
    (types / "nvidia-223/available_instances").write_text("lots\n")
    (types / "nvidia-223/name").unlink()
    (types / "nvidia-223/description").write_text("")
    (tmp_path / "host/var/lib/cyborg/nvidia-smi-q-x.xml").write_bytes(b"\x00garbage")
    enable_vgpu(conf, nvidia_223=["0000:3b:00.0"])
    (first, second) = discover(conf, tmp_path / "host")
    deployable = first.deployables[0]
    assert (deployable.num_accelerators, deployable.traits[1]) == (
        2,
        "CUSTOM_NVIDIA_1EB8_NVIDIA_223",
    )
    assert deployable.attributes == (("pcie_root", "pci0000:3a"), ("product_id", "1eb8"))
    assert second.model == "NVIDIA 1eb8"


def test_parse_smi_list() -> None:
    listing = (A100 / "var/lib/cyborg/nvidia-smi-L.txt").read_text()
    uuid = "GPU-5d1e9b8c-2f4a-4c1e-9a52-7be0c6f3a101"
    assert nvidia_gpu.parse_smi_list(listing) == {
        (uuid, "0"): "4g.20gb",
        (uuid, "1"): "2g.10gb",
        (uuid, "2"): "1g.5gb",
    }


@pytest.mark.parametrize(
    ("product", "expected"),
    [
        ("NVIDIA H100 PCIe", ("51", "756")),
        ("NVIDIA H100 80GB HBM3", ("67", "989")),
        ("NVIDIA A100 80GB PCIe", ("19.5", "312")),
        ("NVIDIA L4", ("30.3", "121")),
        ("Tesla V100-PCIE-16GB", ("14", "112")),
        ("Tesla V100-SXM2-32GB", ("15.7", "125")),
        ("NVIDIA L40S", (None, None)),
        (None, (None, None)),
    ],
)
def test_peak_tflops(product: str | None, expected: tuple[str | None, str | None]) -> None:
    assert nvidia_gpu.peak_tflops(product) == expected


MIG_OUTPUTS = HOSTS.parent / "nvidia-mig"


def test_a_gpu_in_mig_mode_without_instances_reports_its_mig_geometry(
    conf: cfg.ConfigOpts,
) -> None:
    xml = (A100 / "var/lib/cyborg/nvidia-smi-q-x.xml").read_text()
    # The second GPU (nvidia-smi index 1) with MIG mode on and no MIG devices yet.
    first, second = xml.split('<gpu id="00000000:86:00.0">')
    second = second.replace("<current_mig>Disabled</current_mig>",
                            "<current_mig>Enabled</current_mig>", 1)  # fmt: skip
    (mig_gpu, whole) = discover(
        conf,
        A100,
        smi_xml=f'{first}<gpu id="00000000:86:00.0">{second}',
        smi_lgip=(MIG_OUTPUTS / "a100-lgip.txt").read_text(),
        smi_lgipp=(MIG_OUTPUTS / "a100-lgipp.txt").read_text(),
    )
    assert mig_gpu == A100_MIG_GPU  # GPU 0 has MIG devices: no geometry on it
    (deployable,) = whole.deployables
    layout = mig_geometry.decode(dict(deployable.attributes)["mig_profiles"])
    assert layout is not None
    assert (layout.compute_slices, layout.memory_slices) == (7, 8)
    assert [(p.name, p.id, p.memory_mb, p.memory_slices, p.starts) for p in layout.profiles] == [
        ("1g.5gb", 19, 4864, 1, (0, 1, 2, 3, 4, 5, 6)),
        ("2g.10gb", 14, 9984, 2, (0, 2, 4)),
        ("3g.20gb", 9, 20091, 4, (0, 4)),
        ("4g.20gb", 5, 20091, 4, (0,)),
        ("7g.40gb", 0, 40448, 8, (0,)),
    ]


def test_a_gpu_cut_only_for_dra_claims_stays_whole_with_its_geometry(
    conf: cfg.ConfigOpts, tmp_path: pathlib.Path
) -> None:
    """GPU 0's MIG devices (GI 1, 5, 13) all made for DRA claims: still the whole
    PGPU, with its geometry, so the slices keep offering its other partitions. One
    instance not on the list (the operator's): the MIG devices, as before."""
    root = tmp_path / "host"
    shutil.copytree(A100, root, symlinks=True)
    listed = root / mig_geometry.DRA_INSTANCES_PATH
    outputs = {  # the recorded geometry is GPU 1's; GPU 0 is the same A100
        "smi_lgip": (MIG_OUTPUTS / "a100-lgip.txt").read_text().replace("|   1  ", "|   0  "),
        "smi_lgipp": (MIG_OUTPUTS / "a100-lgipp.txt").read_text().replace("GPU  1", "GPU  0"),
    }
    listed.write_text(mig_geometry.encode_made({"0000:3b:00.0": [(1, 0), (5, 0), (13, 0)]}))
    (gpu, _) = discover(conf, root, **outputs)
    (deployable,) = gpu.deployables
    assert deployable.name == "compute-1_0000:3b:00.0"
    assert deployable.resource_class == "PGPU"
    assert [h.attach_info for h in deployable.attach_handles] == [info("0000:3b:00.0")]
    assert mig_geometry.decode(dict(deployable.attributes)["mig_profiles"]) is not None

    listed.write_text(mig_geometry.encode_made({"0000:3b:00.0": [(1, 0), (5, 0)]}))
    assert discover(conf, root, **outputs)[0] == A100_MIG_GPU


def test_mig_mode_off_reports_no_geometry(conf: cfg.ConfigOpts) -> None:
    reports = discover(
        conf,
        A100,
        smi_lgip=(MIG_OUTPUTS / "a100-lgip.txt").read_text(),
        smi_lgipp=(MIG_OUTPUTS / "a100-lgipp.txt").read_text(),
    )
    assert reports == [A100_MIG_GPU, a100_pgpu(pci("0000:86:00.0"))]
