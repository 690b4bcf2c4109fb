"""Options of the [agent] group: the per-host agent that reports accelerators."""

import socket

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "agent",
    title="Agent options",
    help="Options for cyborg-agent, which runs on every compute node with accelerators.",
)

OPTS: list[cfg.Opt] = [
    cfg.ListOpt(
        "enabled_drivers",
        default=["fake_driver"],
        help="Accelerator drivers the agent loads, by their name in the "
        "cyborg.accelerator.driver entry point namespace, for example "
        "nvidia_gpu_driver, intel_fpga_driver or pci_driver. The default fake_driver "
        "reports made-up FPGAs and is only useful for tests; replace it in production.",
    ),
    cfg.IntOpt(
        "report_interval",
        default=60,
        min=1,
        help="Seconds between two reports of this host's devices to the conductor. Lower "
        "it to see hot-plugged devices sooner; every report costs a conductor call.",
    ),
    cfg.StrOpt(
        "resource_provider_name",
        default=socket.getfqdn(),
        sample_default="<fqdn>",
        help="Name of this compute node's resource provider in Placement, under which "
        "the agent creates the device providers. It is also the identity the agent uses "
        "on RPC and that its devices carry as their hostname. It must equal the name Nova "
        "uses for the node (Nova's [DEFAULT] host, usually the FQDN).",
    ),
    cfg.IntOpt(
        "resource_provider_startup_retries",
        default=3,
        min=0,
        help="How many times the agent looks the compute node's resource provider up in "
        "Placement at start-up before it gives up. Raise it when the agent can start "
        "before nova-compute has registered the node.",
    ),
    cfg.IntOpt(
        "program_timeout",
        default=90,
        min=10,
        help="Seconds an FPGA programming request may take on the agent: the bitstream "
        "download from Glance plus the programming tool (fpgaconf, xbmgmt). The conductor "
        "waits 10 seconds longer for the agent and the API 20 seconds longer for the "
        "conductor, and PATCH /v2/deployables/{uuid}/program waits all of it, so keep the "
        "sum under the WSGI server's request timeout (120 seconds for cyborg-api). Set the "
        "same value for the agents, the conductors and the API.",
    ),
    cfg.IntOpt(
        "mdev_timeout",
        default=60,
        min=5,
        help="Seconds the conductor waits for an agent to create or remove a vGPU mdev. "
        "The write itself is quick; the first one on an agent may also wait for its "
        "privileged helper to start (the agent starts it at start-up when vGPU types are "
        "enabled). A bind whose agent does not answer in time ends BindFailed, and a "
        "held mdev is retried for removal after twice this long. Set the same value for "
        "the conductors.",
    ),
    cfg.StrOpt(
        "sysfs_root",
        default="/",
        help="Directory under which drivers read /sys, /dev and the recorded outputs of "
        "vendor tools. Leave it at / on real hosts; tests point it at fixture trees.",
    ),
    cfg.ListOpt(
        "spdk_nvmf_export_bdevs",
        default=[],
        help="SPDK bdevs the nvmf_spdk_driver offers for export per bind: each is a "
        "device of its own, and binding it has the agent create an NVMe-oF subsystem "
        "(nqn.2016-06.io.spdk:cyborg-<bdev>) with the bdev as its namespace and a "
        "listener at spdk_nvmf_listen_address; unbinding deletes the subsystem. The "
        "bdevs must not be exported otherwise (SPDK lets one subsystem claim a bdev).",
    ),
    cfg.DictOpt(
        "spdk_nvmf_listen_address",
        default={"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": "4420"},
        help="Where the NVMe-oF subsystems of spdk_nvmf_export_bdevs listen: SPDK's "
        "listen_address keys trtype (TCP, RDMA), adrfam (IPv4, IPv6), traddr and trsvcid. "
        "Set traddr to an address the consumers reach.",
    ),
    cfg.ListOpt(
        "spdk_vhost_export_bdevs",
        default=[],
        help="SPDK bdevs the vhost_spdk_driver offers for export per bind: each is a "
        "device of its own, and binding it has the agent create a vhost-user-blk "
        "controller cyborg-<bdev> over the bdev; unbinding deletes the controller.",
    ),
    cfg.StrOpt(
        "spdk_vhost_socket_dir",
        default="/var/tmp",  # noqa: S108 - SPDK vhost's own default
        help="The directory in which the SPDK vhost target creates its controllers' "
        "sockets (its -S option): the socket of a controller made per bind is "
        "<spdk_vhost_socket_dir>/<controller>, and consumers mount it from there.",
    ),
    cfg.StrOpt(
        "topic",
        default="cyborg-agent",
        help="RPC topic the agents listen on (each as server <resource_provider_name>) "
        "and the conductors call. RabbitMQ names each agent's queue after it and the "
        "host, not after control_exchange, so two Cyborg deployments sharing one "
        "RabbitMQ virtual host, with hosts of the same names, need different topics "
        "(or, better, vhosts). Set the same value for the agents and the conductors.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # By name, so each ConfigOpts gets its own group (see cyborg.conf).
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    return {GROUP: OPTS}
