"""Options of the [glance] group: how Cyborg downloads bitstreams from Glance."""

from oslo_config import cfg

from cyborg.conf import keystoneauth

GROUP = cfg.OptGroup(
    "glance",
    title="Image service options",
    help="Endpoint lookup and credentials for the Image API, from which the agent "
    "downloads FPGA bitstreams before programming a device. Uses keystoneauth1 "
    "session, authentication and adapter options.",
)

SERVICE_TYPE = "image"

OPTS: list[cfg.Opt] = [
    cfg.IntOpt(
        "num_retries",
        default=0,
        min=0,
        help="How many more times to try a failed image download. Raise it when the "
        "network between compute nodes and Glance is unreliable.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # By name, so each ConfigOpts gets its own group (see cyborg.conf).
    conf.register_opts(OPTS, group=GROUP.name)
    keystoneauth.register(conf, GROUP.name, SERVICE_TYPE)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    return {GROUP: OPTS + keystoneauth.list_options(SERVICE_TYPE)}
