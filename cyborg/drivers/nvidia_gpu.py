"""NVIDIA GPUs: whole GPUs (PGPU), vGPU slots (VGPU) and MIG instances.

Sources, all under the driver's root:

* PCI sysfs (cyborg.drivers.pci): vendor 10de, class 0x0300xx (VGA) or 0x0302xx (3D).
* ``var/lib/cyborg/nvidia-smi-q-x.xml``: ``nvidia-smi -q -x`` as the agent captured it
  (product name, framebuffer size, MIG mode and MIG devices). Optional.
* ``var/lib/cyborg/nvidia-smi-L.txt``: ``nvidia-smi -L``, the only output that names a
  MIG device's profile (``MIG 3g.20gb Device 0: ...``); the XML has no profile name.
* ``sys/class/mdev_bus/<address>/mdev_supported_types/<type>/`` for vGPU types.
* ``var/lib/cyborg/nvidia-smi-q-x.stderr``: what ``nvidia-smi -q -x`` wrote on stderr
  (the GPUs it could not open), and ``var/lib/cyborg/nvidia-xid.log``: the kernel's
  XID lines of this boot; both for health (cyborg.drivers.nvidia_health).

Every deployable of a GPU carries the GPU's health (ATTR_HEALTH, ATTR_HEALTH_REASON
when it is not healthy; a MIG instance also its own ECC errors), and the driver
version, GPU uuid and product name nvidia-smi shows. A GPU that sysfs shows bound to
the ``nvidia`` driver but that a parsed nvidia-smi output leaves out is lost (fatal);
one bound to ``vfio-pci`` (passed through to a VM) is not nvidia-smi's to show.

One device per physical GPU (PF). An SR-IOV VF (a function with a ``physfn`` link) is
never a GPU of its own (upstream counted each VF as a PGPU, bug #4 in the reference).
With ``[gpu_devices] filter_sriov_vfs`` (default) VFs are left out; with it False a
PGPU deployable offers its VFs as its attach handles, one accelerator per VF.
Each GPU is reported as the first of these that applies:

1. vGPU: the GPU is in ``[vgpu_<type>] device_addresses`` for a type in
   ``[gpu_devices] enabled_vgpu_types``. One VGPU deployable; its slots are
   ``available_instances`` + existing mdevs of the type on the GPU, or on its VFs
   (Ampere and later host vGPU on VFs), at most the type's ``max_instance``; one MDEV
   handle per slot. Each VF offers a slot of every type the GPU can still host, so
   the sum over VFs overcounts: the cap keeps the first VFs in address order (a VF
   that holds an mdev keeps offering its slot, so the marks stay on their VFs). A
   MIG-backed type ("GRID A100-3-20C": 3 compute slices, 20 GB) is an mdev type like
   any other; its mdev takes one of the GPU instances the operator created. The [vgpu_<type>]
   groups must be registered (cyborg.conf.gpu_devices.register_dynamic_opts) by the
   caller: drivers may not import cyborg.conf.
2. MIG: the XML shows MIG mode enabled with MIG devices: one deployable per MIG
   device, resource class ``CUSTOM_NVIDIA_MIG_<PROFILE>``, no attach handle (a MIG
   instance is not a PCI function; VMs get one through a MIG-backed vGPU type).
3. Otherwise one PGPU deployable. A GPU in MIG mode without MIG devices yet carries
   its MIG geometry (``ATTR_MIG_PROFILES``, cyborg.common.mig) from
   ``var/lib/cyborg/nvidia-smi-mig-lgip.txt`` and ``-lgipp.txt`` (``nvidia-smi mig
   -lgip`` / ``-lgipp``, cyborg.drivers.nvidia_mig), so that the DRA slices can offer
   it whole or cut. So does a GPU whose MIG devices are all instances the agent made
   for DRA claims (listed in ``var/lib/cyborg/dra-mig-instances.json``,
   cyborg.common.mig.DRA_INSTANCES_PATH): its other partitions stay on offer.

Topology: every deployable of a GPU carries ATTR_PCIE_ROOT, the root complex its
sysfs entry resolves under, and, where ``var/lib/cyborg/nvidia-smi-topo-m.txt``
(``nvidia-smi topo -m``; the XML has no NVLink peers) shows NVLinks, ATTR_PEER_LINKS:
its peers by PCI address with their link count (cyborg.drivers.nvidia_topo); not on
MIG instances, which NVLink peer-to-peer does not reach.
"""

import dataclasses
import os
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from oslo_log import log

from cyborg.common import mig
from cyborg.common.constants import AttachType, DeviceType
from cyborg.drivers import base, nvidia_health, nvidia_mig, nvidia_topo, pci
from cyborg.drivers.base import AttachHandleReport, DeployableReport, DeviceReport, Driver
from cyborg.drivers.health import OK, Health, fatal, health_attributes, unhealthy, worst

LOG = log.getLogger(__name__)

VENDOR = "10de"
DRIVER_NAME = "NVIDIA"
SMI_XML_PATH = "var/lib/cyborg/nvidia-smi-q-x.xml"
SMI_LIST_PATH = "var/lib/cyborg/nvidia-smi-L.txt"
SMI_STDERR_PATH = "var/lib/cyborg/nvidia-smi-q-x.stderr"
SMI_TOPO_PATH = "var/lib/cyborg/nvidia-smi-topo-m.txt"
XID_LOG_PATH = "var/lib/cyborg/nvidia-xid.log"
SMI_LGIP_PATH = "var/lib/cyborg/nvidia-smi-mig-lgip.txt"
SMI_LGIPP_PATH = "var/lib/cyborg/nvidia-smi-mig-lgipp.txt"
NVIDIA_KERNEL_DRIVER = "nvidia"
MDEV_BUS_DIR = "sys/class/mdev_bus"
CONTROLLERS = {"0300": "VGA compatible controller", "0302": "3D controller"}
OWNER_TRAIT = "OWNER_CYBORG"
MIG_BACKED_NAME = re.compile(r"-\d+-\d+C$")
MIG_BACKED_TRAIT = "CUSTOM_NVIDIA_MIG_BACKED_VGPU"

# Peak dense throughput in TFLOPS, FP32 and FP16 Tensor Core without sparsity, from
# NVIDIA's datasheets (A100, H100, L4, T4, V100/V100S); first matching pattern wins.
PEAK_TFLOPS: tuple[tuple[str, str, str], ...] = (
    (r"H100.*PCIe", "51", "756"),
    (r"H100 NVL", "60", "835"),
    (r"H100", "67", "989"),
    (r"A100", "19.5", "312"),
    (r"\bL4\b", "30.3", "121"),
    (r"\bT4\b", "8.1", "65"),
    (r"V100S", "16.4", "130"),
    (r"V100-PCIE", "14", "112"),
    (r"V100", "15.7", "125"),
)


@dataclasses.dataclass(frozen=True)
class MigDevice:
    gpu_instance_id: str
    compute_instance_id: str
    memory_mb: int | None
    profile: str  # "3g.20gb" from nvidia-smi -L; derived when the listing is missing
    health: Health = OK  # the instance's own ECC errors
    index: str = ""  # nvidia-smi's MIG device index on its GPU: -L's "Device  0"


@dataclasses.dataclass(frozen=True)
class SmiGPU:
    product_name: str | None
    memory_mb: int | None
    mig_devices: tuple[MigDevice, ...]  # empty unless MIG mode is enabled
    uuid: str | None = None  # "GPU-5d1e..."
    driver_version: str | None = None  # the document's <driver_version>
    health: Health = OK
    mig_enabled: bool = False  # MIG mode on, with or without MIG devices


def _cut_by_dra(gpu: SmiGPU, made: frozenset[tuple[int, int]]) -> bool:
    """Whether every MIG device of ``gpu`` is an instance made for a DRA claim."""
    ids = [(m.gpu_instance_id, m.compute_instance_id) for m in gpu.mig_devices]
    if not ids or not all(gi.isdigit() and ci.isdigit() for gi, ci in ids):
        return False
    return all((int(gi), int(ci)) in made for gi, ci in ids)


def _mib(text: str | None) -> int | None:
    match = re.match(r"^\s*(\d+)\s*MiB\s*$", text or "")
    return int(match.group(1)) if match else None


def _int(text: str | None) -> int | None:
    return int(text) if text and text.strip().isdigit() else None


def _smi_address(bus_id: str) -> str | None:
    """nvidia-smi's "00000000:3B:00.0" (8-digit domain) as "0000:3b:00.0"."""
    match = re.match(r"^[0-9a-f]*?([0-9a-f]{4}):([0-9a-f]{2}:[0-9a-f]{2}\.[0-7])$", bus_id.lower())
    return f"{match.group(1)}:{match.group(2)}" if match else None


def parse_smi_list(text: str) -> dict[tuple[str, str], str]:
    """``nvidia-smi -L``: {(GPU uuid, MIG device index): profile such as "3g.20gb"}."""
    profiles: dict[tuple[str, str], str] = {}
    gpu_uuid = None
    for line in text.splitlines():
        gpu = re.match(r"^GPU\s+\d+:.*\(UUID:\s*(GPU-[^)\s]+)\)", line)
        mig = re.match(r"^\s+MIG\s+(\S+)\s+Device\s+(\d+):", line)
        if gpu:
            gpu_uuid = gpu.group(1)
        elif mig and gpu_uuid:
            profiles[(gpu_uuid, mig.group(2))] = mig.group(1)
    return profiles


def _mig_device(node: ET.Element, uuid: str, profiles: dict[tuple[str, str], str]) -> MigDevice:
    index = (node.findtext("index") or "").strip()
    memory = _mib(node.findtext("fb_memory_usage/total"))
    sms = _int(node.findtext("device_attributes/shared/multiprocessor_count"))
    # Without the listing, name the instance by what the XML shows: "42sm.20gb".
    derived = f"{sms or 0}sm.{round((memory or 0) / 1024)}gb"
    return MigDevice(
        gpu_instance_id=(node.findtext("gpu_instance_id") or "").strip(),
        compute_instance_id=(node.findtext("compute_instance_id") or "").strip(),
        memory_mb=memory,
        profile=profiles.get((uuid, index), derived),
        health=nvidia_health.mig_health(node),
        index=index,
    )


def parse_smi_xml(text: str, listing: str | None = None) -> dict[str, SmiGPU] | None:
    """``nvidia-smi -q -x`` by PCI address; None for a document that does not parse."""
    try:
        root = ET.fromstring(text)  # noqa: S314 - expat resolves no external entities
    except ET.ParseError as err:
        LOG.warning("Ignoring nvidia-smi XML that does not parse: %s", err)
        return None
    if root.tag != "nvidia_smi_log":
        LOG.warning("Ignoring XML that is not nvidia-smi's: <%s>", root.tag)
        return None
    profiles = parse_smi_list(listing or "")
    driver_version = (root.findtext("driver_version") or "").strip() or None
    gpus = {}
    for node in root.iter("gpu"):
        address = _smi_address(node.get("id") or node.findtext("pci/pci_bus_id") or "")
        if address is None:
            continue
        uuid = (node.findtext("uuid") or "").strip()
        mig_enabled = (node.findtext("mig_mode/current_mig") or "").strip() == "Enabled"
        migs = node.findall("mig_devices/mig_device") if mig_enabled else []
        gpus[address] = SmiGPU(
            product_name=(node.findtext("product_name") or "").strip() or None,
            memory_mb=_mib(node.findtext("fb_memory_usage/total")),
            mig_devices=tuple(_mig_device(m, uuid, profiles) for m in migs),
            uuid=uuid or None,
            driver_version=driver_version,
            health=nvidia_health.smi_health(node),
            mig_enabled=mig_enabled,
        )
    return gpus


def peak_tflops(product_name: str | None) -> tuple[str | None, str | None]:
    """(FP32, FP16) peak TFLOPS of a product; (None, None) for one not in the table."""
    for pattern, fp32, fp16 in PEAK_TFLOPS:
        if product_name and re.search(pattern, product_name):
            return fp32, fp16
    return None, None


@dataclasses.dataclass(frozen=True)
class MdevType:
    parent: str  # the PCI function the mdevs are created on
    name: str | None  # sysfs "name", e.g. "GRID T4-2B"
    slots: int  # available_instances + existing mdevs
    framebuffer_mb: int | None  # from "description", per instance
    max_instances: int | None = None  # "max_instance=" in "description": per GPU

    @property
    def mig_backed(self) -> bool:
        """NVIDIA names MIG-backed types <board>-<compute slices>-<GB>C: "A100-3-20C"."""
        return bool(self.name and MIG_BACKED_NAME.search(self.name))


def read_mdev_type(root: str, parent: str, vgpu_type: str) -> MdevType | None:
    path = os.path.join(root, MDEV_BUS_DIR, parent, "mdev_supported_types", vgpu_type)
    if not os.path.isdir(path):
        return None
    try:
        existing = len(os.listdir(os.path.join(path, "devices")))
    except OSError:
        existing = 0
    available = max(pci.read_int(os.path.join(path, "available_instances")) or 0, 0)
    description = pci.read_text(f"{path}/description") or ""
    framebuffer = re.search(r"framebuffer=(\d+)M", description)
    max_instance = re.search(r"max_instance=(\d+)", description)
    return MdevType(
        parent=parent,
        name=pci.read_text(os.path.join(path, "name")) or None,
        slots=available + existing,
        framebuffer_mb=int(framebuffer.group(1)) if framebuffer else None,
        max_instances=int(max_instance.group(1)) if max_instance else None,
    )


def mdev_slots(types: list[MdevType]) -> list[tuple[str, int]]:
    """(parent, slots) in address order, capped at the type's ``max_instance``."""
    cap = min((t.max_instances for t in types if t.max_instances is not None), default=None)
    left = sum(t.slots for t in types) if cap is None else cap
    slots = []
    for mdev_type in types:
        taken = min(mdev_type.slots, left)
        if taken > 0:
            slots.append((mdev_type.parent, taken))
        left -= taken
    return slots


class NvidiaGPUDriver(Driver):
    name = "nvidia_gpu_driver"

    def __init__(
        self,
        conf: Any,
        root: str = "/",
        hostname: str = "localhost",
        smi_xml: str | None = None,
        smi_list: str | None = None,
        smi_stderr: str | None = None,
        xid_log: str | None = None,
        clock: Callable[[], float] = time.time,
        smi_topo: str | None = None,
        smi_lgip: str | None = None,
        smi_lgipp: str | None = None,
    ) -> None:
        super().__init__(conf, root, hostname)
        self.smi_xml = smi_xml
        self.smi_list = smi_list
        self.smi_stderr = smi_stderr
        self.xid_log = xid_log
        self.smi_topo = smi_topo
        self.smi_lgip = smi_lgip
        self.smi_lgipp = smi_lgipp
        self.clock = clock

    def _vgpu_types(self) -> dict[str, str]:
        """{GPU address: vGPU type} from the configuration; first type wins a clash."""
        by_address: dict[str, str] = {}
        for vgpu_type in self.conf.gpu_devices.enabled_vgpu_types:
            group = f"vgpu_{vgpu_type}"
            if group not in self.conf or "device_addresses" not in self.conf[group]:
                LOG.warning("vGPU type %s is enabled but [%s] is not registered", vgpu_type, group)
                continue
            for address in (a.lower() for a in self.conf[group].device_addresses):
                first = by_address.setdefault(address, vgpu_type)
                if first != vgpu_type:
                    LOG.error("GPU %s is under two vGPU types; using %s", address, first)
        return by_address

    def _captured(self, given: str | None, path: str) -> str | None:
        """A tool output: the constructor's, else the agent's capture under the root."""
        return given if given is not None else pci.read_text(os.path.join(self.root, path))

    def _smi(self) -> dict[str, SmiGPU] | None:
        """Parsed nvidia-smi outputs; None when there is no XML that parses."""
        xml = self._captured(self.smi_xml, SMI_XML_PATH)
        listing = self._captured(self.smi_list, SMI_LIST_PATH)
        return parse_smi_xml(xml, listing) if xml else None

    def _without_dra_instances(self, smi: dict[str, SmiGPU] | None) -> dict[str, SmiGPU] | None:
        """``smi`` with the GPUs cut by DRA claims alone shown without MIG devices."""
        made = mig.decode_made(pci.read_text(os.path.join(self.root, mig.DRA_INSTANCES_PATH)))
        if not smi or not made:
            return smi
        return {
            address: dataclasses.replace(gpu, mig_devices=())
            if _cut_by_dra(gpu, made.get(address, frozenset()))
            else gpu
            for address, gpu in smi.items()
        }

    def _peer_links(self, smi: dict[str, SmiGPU] | None) -> dict[str, str]:
        """{GPU address: ATTR_PEER_LINKS} from ``nvidia-smi topo -m``; {} without it."""
        topo = self._captured(self.smi_topo, SMI_TOPO_PATH)
        if not topo or not smi:
            return {}
        listing = self._captured(self.smi_list, SMI_LIST_PATH) or ""
        order = nvidia_topo.gpu_order(listing, {a: g.uuid for a, g in smi.items()})
        return nvidia_topo.peer_links(nvidia_topo.parse_topo_matrix(topo), order)

    def _mig_profiles(self, smi: dict[str, SmiGPU] | None) -> dict[str, str]:
        """{GPU address: ATTR_MIG_PROFILES} of the GPUs in MIG mode with no MIG devices."""
        lgip = self._captured(self.smi_lgip, SMI_LGIP_PATH)
        lgipp = self._captured(self.smi_lgipp, SMI_LGIPP_PATH)
        if not lgip or not lgipp or not smi:
            return {}
        listing = self._captured(self.smi_list, SMI_LIST_PATH) or ""
        order = nvidia_topo.gpu_order(listing, {a: g.uuid for a, g in smi.items()})
        return {
            order[index]: mig.encode(layout)
            for index, layout in nvidia_mig.parse(lgip, lgipp).items()
            if index < len(order) and smi[order[index]].mig_enabled
            and not smi[order[index]].mig_devices
        }  # fmt: skip

    def _health_of(self, smi: dict[str, SmiGPU] | None) -> Callable[[pci.PCIFunction], Health]:
        """The judge of one GPU's health, over this discovery's captures."""
        stderr = self._captured(self.smi_stderr, SMI_STDERR_PATH) or ""
        lost, failure = nvidia_health.lost_gpus(stderr), nvidia_health.smi_failure(stderr)
        xids = nvidia_health.parse_xids(self._captured(self.xid_log, XID_LOG_PATH) or "")
        now, window = self.clock(), float(self.conf.gpu_devices.xid_window)

        def judge(gpu: pci.PCIFunction) -> Health:
            found = smi.get(gpu.address) if smi is not None else None
            held = gpu.driver == NVIDIA_KERNEL_DRIVER
            absent = smi is not None and found is None and held
            return worst(
                unhealthy(f"nvidia-smi: {failure}") if failure and held else OK,
                found.health if found else OK,
                fatal(f"nvidia-smi: {lost[gpu.address]}") if gpu.address in lost else OK,
                fatal("GPU lost: bound to nvidia but absent from nvidia-smi") if absent else OK,
                nvidia_health.xid_health(xids, gpu.address, now, window),
            )

        return judge

    def discover(self) -> list[DeviceReport]:
        functions = [
            f
            for f in pci.list_functions(self.root)
            if f.vendor == VENDOR and (f.class_code or "")[:4] in CONTROLLERS
        ]
        vfs: dict[str, list[str]] = {}
        for function in functions:
            if function.physfn:
                vfs.setdefault(function.physfn, []).append(function.address)
        smi, vgpu_types = self._without_dra_instances(self._smi()), self._vgpu_types()
        judge, peers = self._health_of(smi), self._peer_links(smi)
        mig_profiles = self._mig_profiles(smi)
        reports = []
        for gpu in (f for f in functions if not f.is_vf):
            vgpu_type, gpu_vfs = vgpu_types.get(gpu.address), sorted(vfs.get(gpu.address, []))
            found = (smi or {}).get(gpu.address)
            topology = {
                base.ATTR_PCIE_ROOT: pci.pcie_root(self.root, gpu.address),
                base.ATTR_PEER_LINKS: peers.get(gpu.address),
                mig.ATTR_MIG_PROFILES: mig_profiles.get(gpu.address),
            }
            report = self._device(gpu, found, judge(gpu), vgpu_type, gpu_vfs, topology)
            if report is not None:
                reports.append(report)
        return reports

    def _device(
        self,
        gpu: pci.PCIFunction,
        smi: SmiGPU | None,
        health: Health,
        vgpu_type: str | None,
        vfs: list[str],
        topology: dict[str, str | None],
    ) -> DeviceReport | None:
        product_id = gpu.device or "0000"
        common = {
            **topology,
            base.ATTR_PRODUCT_ID: product_id,
            base.ATTR_NUMA_NODE: gpu.numa_node,
            base.ATTR_PCIE_LINK: pci.pcie_link(gpu),
            base.ATTR_DRIVER_VERSION: smi and smi.driver_version,
            base.ATTR_UUID: smi and smi.uuid,
            base.ATTR_PRODUCT_NAME: smi and smi.product_name,
            **health_attributes(health),
        }
        # Only a whole GPU is cut by DRA: vGPU and existing MIG devices leave it out.
        mig_profiles = common.pop(mig.ATTR_MIG_PROFILES, None)
        name = f"{self.hostname}_{gpu.address}"
        traits = (OWNER_TRAIT, f"CUSTOM_NVIDIA_{pci.trait_part(product_id)}")
        if vgpu_type is not None:
            deployables = self._vgpu(gpu, vgpu_type, name, vfs, common)
            if not deployables:
                return None
        elif smi is not None and smi.mig_devices:
            # A MIG instance has no peer-to-peer access over NVLink: no peer links.
            common.pop(base.ATTR_PEER_LINKS, None)
            deployables = tuple(
                _deployable(
                    f"{name}_mig_{mig.gpu_instance_id}_{mig.compute_instance_id}",
                    f"CUSTOM_NVIDIA_MIG_{pci.trait_part(mig.profile)}",
                    traits,
                    {
                        **common,
                        base.ATTR_MEMORY_MB: mig.memory_mb,
                        **health_attributes(worst(health, mig.health)),
                    },
                )
                for mig in smi.mig_devices
            )
        else:
            handles = vfs if vfs and not self.conf.gpu_devices.filter_sriov_vfs else [gpu.address]
            fp32, fp16 = peak_tflops(smi.product_name if smi else None)
            facts = {base.ATTR_MEMORY_MB: smi and smi.memory_mb, **common}
            facts[mig.ATTR_MIG_PROFILES] = mig_profiles
            facts.update({base.ATTR_PEAK_TFLOPS_FP32: fp32, base.ATTR_PEAK_TFLOPS_FP16: fp16})
            handle_reports = [pci.pci_handle(a) for a in handles]
            deployables = (_deployable(name, "PGPU", traits, facts, handle_reports),)
        return DeviceReport(
            type=DeviceType.GPU,
            vendor=VENDOR,
            model=(smi and smi.product_name) or f"NVIDIA {product_id}",
            controlpath=pci.controlpath(gpu.address),
            std_board_info=base.canonical_json(
                {"controller": CONTROLLERS[(gpu.class_code or "")[:4]], "product_id": product_id}
            ),
            deployables=deployables,
        )

    def _vgpu(
        self, gpu: pci.PCIFunction, vgpu_type: str, name: str, vfs: list[str], common: dict
    ) -> tuple[DeployableReport, ...]:
        """The GPU's slots of ``vgpu_type``: on the GPU itself, or on its VFs."""
        found = [read_mdev_type(self.root, a, vgpu_type) for a in [gpu.address, *vfs]]
        types = [t for t in found if t is not None and t.slots > 0]
        if not types:
            LOG.warning("GPU %s offers no vGPU type %s; not reported", gpu.address, vgpu_type)
            return ()
        handles: list[AttachHandleReport] = []
        for parent, slots in mdev_slots(types):
            for _ in range(slots):
                info = base.pci_address_info(parent)
                info.update(asked_type=vgpu_type, vgpu_mark=f"{vgpu_type}_{len(handles)}")
                handles.append(AttachHandleReport(AttachType.MDEV, base.canonical_json(info)))
        # Upstream's trait: the second word of the type's name, "GRID T4-2B" -> T4_2B.
        words = (types[0].name or vgpu_type).split()
        vgpu_name = pci.trait_part(words[1] if len(words) > 1 else words[0])
        trait = f"CUSTOM_NVIDIA_{pci.trait_part(gpu.device or '0000')}_{vgpu_name}"
        facts = {**common, base.ATTR_MEMORY_MB: types[0].framebuffer_mb}
        traits = (OWNER_TRAIT, trait, *((MIG_BACKED_TRAIT,) if types[0].mig_backed else ()))
        return (_deployable(name, "VGPU", traits, facts, handles),)


def _deployable(
    name: str, rc: str, traits: tuple[str, ...], facts: dict[str, Any], handles: list | None = None
) -> DeployableReport:
    return DeployableReport(
        name=name,
        num_accelerators=len(handles) if handles else 1,
        resource_class=rc,
        driver_name=DRIVER_NAME,
        traits=traits,
        attributes=pci.attributes(facts),
        attach_handles=tuple(handles or ()),
    )
