"""Options of the [placement] group: how Cyborg reaches and authenticates to Placement."""

from oslo_config import cfg

from cyborg.conf import keystoneauth

GROUP = cfg.OptGroup(
    "placement",
    title="Placement service options",
    help="Credentials and endpoint lookup for the Placement API, where the conductor "
    "publishes accelerator inventories and traits. Uses keystoneauth1 session, "
    "authentication and adapter options; set auth_type = password and the credentials "
    "of the cyborg service user, or, for a Placement with auth_strategy = noauth2, "
    "auth_type = admin_token, token = admin and endpoint_override = its URL. While "
    "auth_type is unset nothing is published to Placement.",
)

SERVICE_TYPE = "placement"

OPTS: list[cfg.Opt] = [
    cfg.BoolOpt(
        "create_compute_node_provider",
        default=False,
        help="Create the compute node's resource provider (named after the host, as "
        "[agent] resource_provider_name says) when Placement has none, and publish the "
        "devices under it. Only for deployments without nova-compute on that host: Nova "
        "cannot create its own provider once one with that name exists. When False, a "
        "host without a provider is reported with a warning and synced again on its "
        "next report.",
    ),
    cfg.IntOpt(
        "audit_interval",
        default=600,
        min=0,
        help="Seconds between two full Placement resyncs by each conductor, which "
        "repair drift (traits, inventories or providers changed or deleted by hand) and "
        "delete the providers of removed devices once their allocations are gone. "
        "0 disables it; `cyborg-manage placement sync` runs one by hand.",
    ),
    cfg.IntOpt(
        "concurrency",
        default=8,
        min=1,
        help="Placement requests each conductor process sends at once when it "
        "publishes devices: the writes of different providers (and of hosts reporting "
        "together) overlap up to this bound. Raise it when Placement runs more "
        "workers; see doc/source/admin/placement.rst for a measured value.",
    ),
]


# The conductor calls Placement holding a host's row lock: never wait forever.
TIMEOUT = 30


def register_opts(conf: cfg.ConfigOpts) -> None:
    # By name, so each ConfigOpts gets its own group (see cyborg.conf).
    keystoneauth.register(conf, GROUP.name, SERVICE_TYPE)
    conf.set_default("timeout", TIMEOUT, group=GROUP.name)
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    options = keystoneauth.list_options(SERVICE_TYPE)
    cfg.set_defaults(options, timeout=TIMEOUT)
    return {GROUP: OPTS + options}
