"""Options of the [nic_devices] group."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "nic_devices",
    title="NIC device options",
    help="Options of the NIC driver (intel_nic_driver).",
)

OPTS: list[cfg.Opt] = [
    cfg.ListOpt(
        "enabled_nic_types",
        default=[],
        help="Names of the NIC configurations the NIC driver reports, for example "
        "x710_static. Each name refers to a group of that name describing the "
        "configuration. Leave empty unless intel_nic_driver is in [agent] enabled_drivers.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # By name, so each ConfigOpts gets its own group (see cyborg.conf).
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    return {GROUP: OPTS}
