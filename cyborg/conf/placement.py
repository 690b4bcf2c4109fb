"""Options of the [placement] group: how Cyborg reaches and authenticates to Placement."""

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

GROUP = cfg.OptGroup(
    "placement",
    title="Placement service options",
    help="Credentials and endpoint lookup for the Placement API, where the conductor "
    "publishes accelerator inventories and traits. Uses keystoneauth1 session, "
    "authentication and adapter options; set auth_type = password and the credentials "
    "of the cyborg service user.",
)

SERVICE_TYPE = "placement"
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
    # Auth plugin options are registered only when a plugin is loaded; list the password
    # plugin's so the sample shows what a typical deployment sets.
    return {
        GROUP: ks_loading.get_session_conf_options()
        + ks_loading.get_auth_common_conf_options()
        + ks_loading.get_auth_plugin_conf_options("password")
        + adapter_opts
    }
