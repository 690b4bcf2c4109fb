"""keystoneauth1 session, auth and adapter options for a service Cyborg calls."""

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

VALID_INTERFACES = ["internal", "public"]


def register(conf: cfg.ConfigOpts, group: str, service_type: str) -> None:
    """Register the options in ``group`` (by name: each ConfigOpts gets its own group)."""
    ks_loading.register_session_conf_options(conf, group)
    ks_loading.register_auth_conf_options(conf, group)
    ks_loading.register_adapter_conf_options(conf, group, include_deprecated=False)
    conf.set_default("service_type", service_type, group=group)
    conf.set_default("valid_interfaces", VALID_INTERFACES, group=group)


def list_options(service_type: str) -> list[cfg.Opt]:
    """The options for the sample config of a group calling ``service_type``."""
    adapter_opts = ks_loading.get_adapter_conf_options(include_deprecated=False)
    cfg.set_defaults(adapter_opts, service_type=service_type, valid_interfaces=VALID_INTERFACES)
    # Auth plugin options are registered only when a plugin is loaded; list the password
    # plugin's so the sample shows what a typical deployment sets.
    return (
        ks_loading.get_session_conf_options()
        + ks_loading.get_auth_common_conf_options()
        + ks_loading.get_auth_plugin_conf_options("password")
        + adapter_opts
    )
