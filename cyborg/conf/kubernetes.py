"""Options of the [kubernetes] group: the agent's kubelet device plugin, DRA plugin and
ResourceSlices."""

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
    # FPGAs programmed for pods (cyborg.kubernetes.fpga_bitstreams).
    cfg.ListOpt(
        "fpga_bitstream_dirs",
        default=[],
        help="Directories on the node whose files a ResourceClaim may name as the "
        "bitstream of an FPGA (FPGAConfig bitstream.file: a plain file name, looked up "
        "in these directories in order). Empty: pods may name Glance images only.",
    ),
    # The DRA kubelet plugin (cyborg.kubernetes.dra).
    cfg.BoolOpt(
        "dra_enabled",
        default=False,
        help="Run a DRA kubelet plugin (DRAPlugin v1, with v1beta1 for 1.32 and 1.33 "
        "kubelets) for each DRA driver, <kind>.<resource_domain>, whose device types in "
        "dra_device_types the host has. Pods then get the devices through "
        "ResourceClaims. Do not serve a device type both here and in "
        "device_plugin_types: the two would hand out the same devices.",
    ),
    cfg.StrOpt(
        "dra_plugin_dir",
        default="/var/lib/kubelet/plugins",
        help="The kubelet's plugins directory: each DRA driver serves "
        "<dra_plugin_dir>/<driver>/dra.sock.",
    ),
    cfg.StrOpt(
        "plugins_registry_dir",
        default="/var/lib/kubelet/plugins_registry",
        help="The directory the kubelet's plugin watcher watches: each DRA driver puts "
        "its registration socket <driver>-reg.sock there.",
    ),
    cfg.StrOpt(
        "dra_checkpoint_dir",
        help="Where each DRA driver keeps what it prepared, <driver>.json, so that a "
        "restarted agent answers the kubelet's retries the same. Default: "
        "<dra_plugin_dir>/<driver>/checkpoint.json.",
    ),
    cfg.ListOpt(
        "dra_device_types",
        default=["GPU", "FPGA", "SSD"],
        help="Device types (as in GET /v2/devices) served through DRA; each gets its "
        "own driver name: GPU gpu, FPGA fpga, SSD nvme, AICHIP aichip, QAT qat, NIC nic "
        "(then .<resource_domain>).",
    ),
    cfg.StrOpt(
        "node_name",
        help="This host's Kubernetes node name: the nodeName and pool name of its "
        "ResourceSlices, and the pool the DRA plugin takes from the claims' allocations. "
        "Default: the host name, lowercased (the kubelet's default).",
    ),
    # --- DRA ResourceSlices (cyborg.kubernetes.slice_publisher) ----------------------
    cfg.BoolOpt(
        "resource_slices_enabled",
        default=False,
        help="Publish this host's accelerators as resource.k8s.io/v1 ResourceSlices "
        "(Kubernetes 1.34+ dynamic resource allocation): one pool per DRA driver "
        "(<kind>.<resource_domain>, e.g. gpu.cyborg.openstack.org) named after "
        "node_name, kept equal to every discovery.",
    ),
    cfg.StrOpt(
        "kubeconfig",
        help="A kubeconfig file naming the API server and the agent's credentials "
        "(a bearer token or a client certificate; its current context is used). "
        "Unset: the pod's service account (KUBERNETES_SERVICE_HOST and "
        "/var/run/secrets/kubernetes.io/serviceaccount).",
    ),
    cfg.FloatOpt(
        "api_timeout",
        default=10.0,
        min=0.1,
        help="Seconds the agent waits for the Kubernetes API server to connect and to "
        "send each part of an answer.",
    ),
    cfg.BoolOpt(
        "resource_slice_taints",
        default=True,
        help="Taint unhealthy devices (cyborg.openstack.org/unhealthy) and devices a "
        "Nova instance holds (cyborg.openstack.org/bound-to-vm) in the slices. Device "
        "taints need the DRADeviceTaints feature gate (alpha, off by default, in 1.34 "
        "and 1.35); without it the API server drops them, so set this False there "
        "and such devices are left out of the slices instead.",
    ),
    cfg.StrOpt(
        "resource_slices_on_stop",
        default="delete",
        choices=[
            ("delete", "delete this node's slices"),
            (
                "taint",
                "keep them, every device tainted cyborg.openstack.org/agent-stopped "
                "NoSchedule (needs DRADeviceTaints and resource_slice_taints)",
            ),
            (
                "keep",
                "leave them as they are: a quick restart keeps the devices schedulable, "
                "but a dead agent's devices keep attracting pods",
            ),
        ],
        help="What a stopping agent does with its slices, so that its devices stop "
        "attracting new pods.",
    ),
    cfg.FloatOpt(
        "resource_slices_resync_interval",
        default=300.0,
        min=1.0,
        help="Seconds between two full comparisons of the published slices with the "
        "inventory even when neither seemed to change (a watch notices most changes "
        "at once).",
    ),
    # One owner per device: pods' devices claimed in Placement (cyborg.conductor.pods).
    cfg.StrOpt(
        "pod_project_id",
        help="The Placement project (and user) of the allocations the conductor writes "
        "for pods' devices (consumer type POD, one consumer per ResourceClaim uid). "
        "Unset: a uuid made from each claim's namespace (uuid5 of the namespace "
        "name), so that Placement's usages can be read per namespace.",
    ),
    # MIG partitions in the DRA slices (cyborg.kubernetes.mig_slices).
    cfg.BoolOpt(
        "mig_partitions",
        default=False,
        help="Publish each MIG-capable NVIDIA GPU that is in MIG mode with no MIG "
        "instances made (or only those made for pods' claims) as partitionable "
        "devices: the whole GPU and every GPU "
        "instance profile at every placement, all consuming one shared counter set, "
        "and make the GPU instance when a claim's pod is prepared. The slices are "
        "laid out as Kubernetes 1.35 and later validate them (counter sets in slices "
        "of their own) and need the DRAPartitionableDevices feature gate; 1.34's "
        "API server refuses them.",
    ),
    # The device plugins' claims: released when the kubelet's PodResources no longer
    # lists the device (the device plugin API never says when a pod ends).
    cfg.StrOpt(
        "pod_resources_socket",
        default="/var/lib/kubelet/pod-resources/kubelet.sock",
        help="The kubelet's PodResources API (v1) socket, read by the device plugins to "
        "learn which of their devices pods still hold; the agent needs it mounted when "
        "it runs in a container.",
    ),
    cfg.FloatOpt(
        "pod_resources_interval",
        default=10.0,
        min=0.1,
        help="Seconds between two reads of the kubelet's PodResources by the device "
        "plugins (with a conductor: to release devices of pods that are gone).",
    ),
    cfg.IntOpt(
        "device_plugin_release_after",
        default=3,
        min=2,
        help="A device-plugin device is released in Placement after this many reads of "
        "PodResources in a row that list it for no pod container; more than one, so "
        "that an Allocate the kubelet has not listed yet is not released.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # By name, so each ConfigOpts gets its own group (see cyborg.conf).
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    return {GROUP: OPTS}
