"""Options of the [nova] group: how Cyborg reaches and authenticates to Nova."""

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

GROUP = cfg.OptGroup(
    "nova",
    title="Compute service options",
    help="Credentials and endpoint lookup for the Compute API, which the conductor "
    "calls to send accelerator-request-bound external events to Nova. Uses "
    "keystoneauth1 session, authentication and adapter options; the user needs the "
    "rights Nova requires for os-server-external-events (usually the service role).",
)

SERVICE_TYPE = "compute"
VALID_INTERFACES = ["internal", "public"]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # By name, so each ConfigOpts gets its own group (see cyborg.conf).
    ks_loading.register_session_conf_options(conf, GROUP.name)
    ks_loading.register_auth_conf_options(conf, GROUP.name)
    ks_loading.register_adapter_conf_options(conf, GROUP.name, include_deprecated=False)
    conf.set_default("service_type", SERVICE_TYPE, group=GROUP.name)
    conf.set_default("valid_interfaces", VALID_INTERFACES, group=GROUP.name)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    adapter_opts = ks_loading.get_adapter_conf_options(include_deprecated=False)
    cfg.set_defaults(adapter_opts, service_type=SERVICE_TYPE, valid_interfaces=VALID_INTERFACES)
    # Plugin options appear only once a plugin is loaded; show the password plugin's.
    return {
        GROUP: ks_loading.get_session_conf_options()
        + ks_loading.get_auth_common_conf_options()
        + ks_loading.get_auth_plugin_conf_options("password")
        + adapter_opts
    }
