"""keystoneauth adapters for the services Cyborg calls, from their option groups."""

from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import loading as ks_loading
from oslo_config import cfg


def is_configured(conf: cfg.ConfigOpts, group: str) -> bool:
    """Whether ``[group]`` names an auth plugin (``none`` counts: endpoint_override)."""
    return bool(conf[group].auth_type)


def load(conf: cfg.ConfigOpts, group: str) -> ks_adapter.Adapter | None:
    """The adapter for ``[group]``'s session, auth and endpoint options; None if unset."""
    auth = ks_loading.load_auth_from_conf_options(conf, group)
    if auth is None:
        return None
    session = ks_loading.load_session_from_conf_options(conf, group, auth=auth)
    adapter: ks_adapter.Adapter = ks_loading.load_adapter_from_conf_options(
        conf, group, session=session, auth=auth
    )
    return adapter
