"""Options of the [service_user] group: the service token sent along with user tokens."""

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

GROUP = cfg.OptGroup(
    "service_user",
    title="Service user token options",
    help="Credentials of the service user whose token Cyborg sends, next to the user's "
    "token, in calls it makes on a user's behalf (for example to Glance). Services "
    "that require a service token then accept the call even when the user's token "
    "expires during a long operation. Uses keystoneauth1 session and authentication "
    "options.",
)

OPTS: list[cfg.Opt] = [
    cfg.BoolOpt(
        "send_service_user_token",
        default=False,
        help="Send a service token with calls made on a user's behalf. Enable it when "
        "the services Cyborg calls have service_token_roles_required set, and fill in "
        "the credentials in this group.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # By name, so each ConfigOpts gets its own group (see cyborg.conf).
    conf.register_opts(OPTS, group=GROUP.name)
    ks_loading.register_session_conf_options(conf, GROUP.name)
    ks_loading.register_auth_conf_options(conf, GROUP.name)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    # Plugin options appear only once a plugin is loaded; show the password plugin's.
    return {
        GROUP: OPTS
        + ks_loading.get_session_conf_options()
        + ks_loading.get_auth_common_conf_options()
        + ks_loading.get_auth_plugin_conf_options("password")
    }
