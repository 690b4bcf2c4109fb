"""Options of the [fake_driver] group: the simulated host of the fake driver."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "fake_driver",
    title="Fake driver options",
    help="The fake_driver reports a simulated host, for development, demonstrations "
    "and tests. Never enable it on a production compute node.",
)

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "inventory_file",
        help="JSON file describing the simulated devices, read again at every discovery "
        "so that editing it adds, changes or removes devices at the next report. "
        "Unset: one FakeDevice FPGA board with 16 accelerators and two whole FakeGPUs, "
        "as upstream Cyborg's fake driver. The format is described in the agent's "
        "admin guide (doc/source/admin/agent.rst).",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # By name, so each ConfigOpts gets its own group (see cyborg.conf).
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    return {GROUP: OPTS}
