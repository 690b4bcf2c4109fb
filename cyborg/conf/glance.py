"""Options of the [glance] group: how Cyborg downloads bitstreams from Glance."""

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

GROUP = cfg.OptGroup(
    "glance",
    title="Image service options",
    help="Endpoint lookup and credentials for the Image API, from which the agent "
    "downloads FPGA bitstreams before programming a device. Uses keystoneauth1 "
    "session, authentication and adapter options.",
)

SERVICE_TYPE = "image"
VALID_INTERFACES = ["internal", "public"]

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
        GROUP: OPTS
        + ks_loading.get_session_conf_options()
        + ks_loading.get_auth_common_conf_options()
        + ks_loading.get_auth_plugin_conf_options("password")
        + adapter_opts
    }
