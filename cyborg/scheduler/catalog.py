"""Published specifications of common accelerators, to fill in device-set entries.

Numbers are the vendors' datasheet peaks (dense, i.e. without 2:4 sparsity): what the
roofline divides by. Real kernels reach a fraction of them; the learned factors
(:mod:`cyborg.scheduler.factors`) correct for that per operator type and model.
Bandwidths are one direction, in GB/s.

``transfers`` is how the model moves tensors (:mod:`cyborg.scheduler.devices`): every
model here has engines that copy beside its compute -- the GPUs' copy engines (CUDA
streams overlap copies with kernels over PCIe and NVLink, and GPUDirect RDMA or
host-staged copies over the network), the FPGA shell's PCIe DMA controller -- so all
overlap. A device without them (a CPU, a card whose driver copies with its compute
units) says ``"blocking"`` in its device-set entry.
"""

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    model: str
    peak_tflops: Mapping[str, float]
    memory_mb: float
    memory_bandwidth_gbps: float
    pcie_gbps: float
    peer_link_type: str | None
    peer_link_gbps: float
    launch_overhead_us: float
    source: str
    transfers: str = "overlap"  # or "blocking"


CATALOG: Mapping[str, ModelSpec] = MappingProxyType(
    {
        # NVIDIA H100 Tensor Core GPU datasheet, SXM5 column: FP32 67 TFLOPS;
        # TF32 989, BF16/FP16 1,979, FP8 3,958, INT8 3,958 TOPS *with sparsity*, so
        # dense = half; 80 GB HBM3 at 3.35 TB/s; NVLink 900 GB/s (both directions);
        # PCIe Gen5 128 GB/s (both directions).
        "H100-SXM5-80GB": ModelSpec(
            model="H100-SXM5-80GB",
            peak_tflops={
                "fp32": 67.0,
                "tf32": 494.5,
                "fp16": 989.5,
                "bf16": 989.5,
                "fp8": 1979.0,
                "int8": 1979.0,
            },
            memory_mb=80 * 1024,
            memory_bandwidth_gbps=3350.0,
            pcie_gbps=64.0,
            peer_link_type="nvlink",
            peer_link_gbps=450.0,
            launch_overhead_us=4.0,
            source="NVIDIA H100 datasheet (SXM5)",
            transfers="overlap",
        ),
        # NVIDIA H200 Tensor Core GPU datasheet, H200 SXM column: FP32 67 TFLOPS;
        # TF32 989, BF16/FP16 1,979, FP8 3,958, INT8 3,958 TOPS *with sparsity*, so
        # dense = half; 141 GB HBM3e at 4.8 TB/s; NVLink 900 GB/s (both directions);
        # PCIe Gen5 128 GB/s (both directions).
        "H200-SXM5-141GB": ModelSpec(
            model="H200-SXM5-141GB",
            peak_tflops={
                "fp32": 67.0,
                "tf32": 494.5,
                "fp16": 989.5,
                "bf16": 989.5,
                "fp8": 1979.0,
                "int8": 1979.0,
            },
            memory_mb=141 * 1024,
            memory_bandwidth_gbps=4800.0,
            pcie_gbps=64.0,
            peer_link_type="nvlink",
            peer_link_gbps=450.0,
            launch_overhead_us=4.0,
            source="NVIDIA H200 datasheet (SXM)",
            transfers="overlap",
        ),
        # NVIDIA A100 Tensor Core GPU datasheet, A100 80GB SXM column: FP32 19.5 TFLOPS;
        # TF32 156, BF16/FP16 312, INT8 624 TOPS (dense); 80 GB HBM2e at 2,039 GB/s;
        # NVLink 600 GB/s (both directions); PCIe Gen4 64 GB/s (both directions).
        "A100-SXM4-80GB": ModelSpec(
            model="A100-SXM4-80GB",
            peak_tflops={"fp32": 19.5, "tf32": 156.0, "fp16": 312.0, "bf16": 312.0, "int8": 624.0},
            memory_mb=80 * 1024,
            memory_bandwidth_gbps=2039.0,
            pcie_gbps=32.0,
            peer_link_type="nvlink",
            peer_link_gbps=300.0,
            launch_overhead_us=5.0,
            source="NVIDIA A100 datasheet (80GB SXM)",
            transfers="overlap",
        ),
        # NVIDIA T4 datasheet: FP32 8.1 TFLOPS; mixed-precision FP16/FP32 65 TFLOPS;
        # INT8 130 TOPS; 16 GB GDDR6 at 320+ GB/s; PCIe Gen3 x16 32 GB/s (both
        # directions); no NVLink.
        "T4": ModelSpec(
            model="T4",
            peak_tflops={"fp32": 8.1, "fp16": 65.0, "int8": 130.0},
            memory_mb=16 * 1024,
            memory_bandwidth_gbps=320.0,
            pcie_gbps=16.0,
            peer_link_type=None,
            peer_link_gbps=0.0,
            launch_overhead_us=6.0,
            source="NVIDIA T4 datasheet",
            transfers="overlap",
        ),
        # An HBM FPGA class, after Intel Stratix 10 MX: Intel quotes "up to 10 TFLOPS"
        # IEEE-754 single precision for the Stratix 10 family (hardened FP32 DSP
        # blocks; no hardened FP16, so FP16 runs at the FP32 rate); two HBM2 stacks of
        # 4 GB, 256 GB/s each, 512 GB/s aggregate (device overviews 683149, 683225);
        # PCIe Gen3 x16 hard IP (~15.75 GB/s one direction). An upper bound: designs
        # rarely close timing at the clock that peak assumes.
        "FPGA-HBM": ModelSpec(
            model="FPGA-HBM",
            peak_tflops={"fp32": 10.0, "fp16": 10.0},
            memory_mb=8 * 1024,
            memory_bandwidth_gbps=512.0,
            pcie_gbps=15.75,
            peer_link_type="serial",
            peer_link_gbps=12.5,
            launch_overhead_us=10.0,
            source="Intel Stratix 10 MX device overview",
            transfers="overlap",
        ),
    }
)

#: Product names as the vendors' tools print them (``nvidia-smi``'s ``name`` /
#: ``product_name``, which the NVIDIA driver reports as the device's model) -> the
#: catalog model. Only names that denote one catalog model: "NVIDIA H100 PCIe" or
#: "NVIDIA A100-SXM4-40GB" are other cards, with other figures.
ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "NVIDIA H100 80GB HBM3": "H100-SXM5-80GB",
        "NVIDIA H200": "H200-SXM5-141GB",
        "NVIDIA A100-SXM4-80GB": "A100-SXM4-80GB",
        "Tesla T4": "T4",
    }
)


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


_BY_KEY = {_key(name): model for name, model in ALIASES.items()} | {
    _key(model): model for model in CATALOG
}


def catalog_model(name: str | None) -> str | None:
    """The catalog model ``name`` denotes (a catalog key or a product name, case and
    spacing aside), or None."""
    return _BY_KEY.get(_key(name)) if name else None
