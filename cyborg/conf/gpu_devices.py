"""Options of the [gpu_devices] group and the per-type [vgpu_<type>] groups."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "gpu_devices",
    title="GPU device options",
    help="Options of the GPU driver (nvidia_gpu_driver).",
)

OPTS: list[cfg.Opt] = [
    cfg.ListOpt(
        "enabled_vgpu_types",
        default=[],
        help="Mediated device (vGPU) types to offer, by their sysfs name, for example "
        "nvidia-35. For each type T listed here, a [vgpu_T] group with a "
        "device_addresses option says which physical GPUs are split into that type. "
        "Leave empty to offer whole GPUs only.",
    ),
    cfg.BoolOpt(
        "filter_sriov_vfs",
        default=True,
        help="Skip the SR-IOV virtual functions of NVIDIA GPUs when discovering devices, "
        "so that a GPU whose vGPUs live on its VFs is reported once, as its physical "
        "function. Upstream Cyborg defaulted to False, which counts every VF as another "
        "GPU; set False only if you really hand out VFs as whole devices.",
    ),
    # GPU health (cyborg.drivers.nvidia_health): where XIDs come from, how long they count.
    cfg.StrOpt(
        "xid_source",
        default="journal",
        help="Where the agent reads the kernel's NVIDIA XID events from, before each "
        "discovery: 'journal' (journalctl -k -b, the current boot; the agent's user "
        "needs to read the journal, e.g. be in the systemd-journal group), 'kmsg' "
        "(/dev/kmsg; needs CAP_SYSLOG or kernel.dmesg_restrict=0), 'none', or the "
        "absolute path of a file in 'journalctl -o short-unix' or 'short-iso' format "
        "that another tool keeps.",
    ),
    cfg.IntOpt(
        "xid_window",
        default=600,
        min=1,
        help="Seconds an XID event keeps its GPU unhealthy or fatal after it was logged. "
        "What lasts beyond (uncorrectable ECC counters, a lost GPU, a pending row remap "
        "or recovery action) keeps the GPU so through nvidia-smi until it is reset.",
    ),
]

DEVICE_ADDRESSES_OPT = cfg.ListOpt(
    "device_addresses",
    default=[],
    help="PCI addresses (for example 0000:84:00.0) of the physical GPUs that are split "
    "into this vGPU type. List each GPU under one type only.",
)


def register_opts(conf: cfg.ConfigOpts) -> None:
    # By name, so each ConfigOpts gets its own group (see cyborg.conf).
    conf.register_opts(OPTS, group=GROUP.name)


def vgpu_group_name(vgpu_type: str) -> str:
    return f"vgpu_{vgpu_type}"


def register_dynamic_opts(conf: cfg.ConfigOpts) -> None:
    """Register a [vgpu_<type>] group for each enabled vGPU type.

    The group names depend on configured values, so call this after the configuration
    has been parsed.
    """
    for vgpu_type in conf.gpu_devices.enabled_vgpu_types:
        group = vgpu_group_name(vgpu_type)
        conf.register_group(cfg.OptGroup(group, help=f"Physical GPUs split into {vgpu_type}."))
        conf.register_opt(DEVICE_ADDRESSES_OPT, group=group)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    return {GROUP: OPTS}
