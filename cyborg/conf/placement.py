"""Options of the [placement] group: how Cyborg reaches and authenticates to Placement."""

from oslo_config import cfg

from cyborg.conf import keystoneauth

GROUP = cfg.OptGroup(
    "placement",
    title="Placement service options",
    help="Credentials and endpoint lookup for the Placement API, where the conductor "
    "publishes accelerator inventories and traits. Uses keystoneauth1 session, "
    "authentication and adapter options; set auth_type = password and the credentials "
    "of the cyborg service user.",
)

SERVICE_TYPE = "placement"


def register_opts(conf: cfg.ConfigOpts) -> None:
    # By name, so each ConfigOpts gets its own group (see cyborg.conf).
    keystoneauth.register(conf, GROUP.name, SERVICE_TYPE)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    return {GROUP: keystoneauth.list_options(SERVICE_TYPE)}
