"""Options of the [pci] group: devices handed to the generic PCI driver."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "pci",
    title="Generic PCI device options",
    help="Options of the generic PCI driver (pci_driver).",
)

OPTS: list[cfg.Opt] = [
    cfg.MultiStrOpt(
        "passthrough_whitelist",
        default=[],
        help="Devices the generic pci_driver reports, one JSON device spec per line in "
        "Nova's format, with any of the keys vendor_id, product_id, address (a glob such "
        'as "*:0a:00.*" or a dict of domain, bus, slot and function) and devname. '
        'Example: {"vendor_id": "10de", "product_id": "1eb8"}. Repeat the option for '
        "more specs. Devices that match no spec are not reported by pci_driver.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # By name, so each ConfigOpts gets its own group (see cyborg.conf).
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    return {GROUP: OPTS}
