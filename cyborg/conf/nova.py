"""Options of the [nova] group: how Cyborg reaches and authenticates to Nova."""

from oslo_config import cfg

from cyborg.conf import keystoneauth

GROUP = cfg.OptGroup(
    "nova",
    title="Compute service options",
    help="Credentials and endpoint lookup for the Compute API, which the conductor "
    "calls to send accelerator-request-bound external events to Nova. Uses "
    "keystoneauth1 session, authentication and adapter options; the user needs the "
    "rights Nova requires for os-server-external-events (usually the service role).",
)

SERVICE_TYPE = "compute"


def register_opts(conf: cfg.ConfigOpts) -> None:
    # By name, so each ConfigOpts gets its own group (see cyborg.conf).
    keystoneauth.register(conf, GROUP.name, SERVICE_TYPE)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    return {GROUP: keystoneauth.list_options(SERVICE_TYPE)}
