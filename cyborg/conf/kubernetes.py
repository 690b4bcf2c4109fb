"""Options of the [kubernetes] group: the agent's kubelet device plugin."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "kubernetes",
    title="Kubernetes options",
    help="cyborg-agent can offer this host's accelerators to the kubelet on the same "
    "node, so that pods get them from the inventory that serves Nova. See the "
    "Kubernetes guide (doc/source/admin/kubernetes.rst).",
)

OPTS: list[cfg.Opt] = [
    cfg.BoolOpt(
        "device_plugin_enabled",
        default=False,
        help="Run a kubelet device plugin (API v1beta1) for each device type in "
        "device_plugin_types that the host has: pods then ask for "
        "<resource_domain>/<kind> (gpu, fpga, nvme, ...) in resources.limits.",
    ),
    cfg.StrOpt(
        "device_plugin_dir",
        default="/var/lib/kubelet/device-plugins",
        help="The kubelet's device plugin directory: the plugins' sockets are created "
        "there and kubelet.sock in it is where they register.",
    ),
    cfg.ListOpt(
        "device_plugin_types",
        default=["GPU", "FPGA", "SSD"],
        help="Device types (as in GET /v2/devices) offered to the kubelet; each gets its "
        "own resource name: GPU gpu, FPGA fpga, SSD nvme, AICHIP aichip, QAT qat, NIC nic.",
    ),
    cfg.StrOpt(
        "resource_domain",
        default="cyborg.openstack.org",
        help="The domain of the extended resource names, <resource_domain>/<kind>.",
    ),
    cfg.FloatOpt(
        "kubelet_watch_interval",
        default=1.0,
        min=0.05,
        help="Seconds between two looks at kubelet.sock: when the kubelet restarts it "
        "makes a new one (and removes the plugins' sockets), and the plugins serve and "
        "register again.",
    ),
    cfg.BoolOpt(
        "device_plugin_cdi",
        default=False,
        help="Name the allocated devices as CDI devices (<resource name>=<PCI address>) "
        "in Allocate's answer, and write a CDI spec for them into cdi_spec_dir. Needs a "
        "container runtime with CDI enabled (containerd 1.7+, CRI-O 1.23+).",
    ),
    cfg.StrOpt(
        "cdi_spec_dir",
        default="/var/run/cdi",
        help="Where the CDI specs of device_plugin_cdi are written, one file per "
        "resource name (cyborg-<kind>.json).",
    ),
    # One owner per device: pods' devices claimed in Placement (cyborg.conductor.pods).
    cfg.StrOpt(
        "pod_project_id",
        help="The Placement project (and user) of the allocations the conductor writes "
        "for pods' devices (consumer type POD, one consumer per ResourceClaim uid). "
        "Unset: a uuid made from each claim's namespace (uuid5 of the namespace "
        "name), so that Placement's usages can be read per namespace.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # By name, so each ConfigOpts gets its own group (see cyborg.conf).
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    return {GROUP: OPTS}
