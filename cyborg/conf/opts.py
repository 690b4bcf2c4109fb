"""Entry points for oslo-config-generator (namespace ``cyborg``).

``list_opts`` is ``oslo.config.opts: cyborg`` and ``set_lib_defaults`` is
``oslo.config.opts.defaults: cyborg`` in pyproject.toml.
"""

from oslo_config import cfg
from oslo_db import options as db_options
from oslo_policy import opts as policy_opts

from cyborg.conf import (
    agent,
    api,
    conductor,
    database,
    default,
    fake_driver,
    glance,
    gpu_devices,
    kubernetes,
    nic_devices,
    nova,
    pci,
    placement,
    privileged,
    quota,
    scheduler,
    service_user,
    upgrade_levels,
)

# Every module with static options; the dynamic [vgpu_<type>] groups are left out.
MODULES = [
    agent,
    api,
    conductor,
    database,
    default,
    fake_driver,
    glance,
    gpu_devices,
    kubernetes,
    nic_devices,
    nova,
    pci,
    placement,
    privileged,
    quota,
    scheduler,
    service_user,
    upgrade_levels,
]


def _sort_key(pair: tuple[str | cfg.OptGroup, list[cfg.Opt]]) -> tuple[bool, str]:
    name = pair[0].name if isinstance(pair[0], cfg.OptGroup) else pair[0]
    return (name != "DEFAULT", name)


def list_opts() -> list[tuple[str | cfg.OptGroup, list[cfg.Opt]]]:
    """Return (group, options) pairs, [DEFAULT] first and the rest by group name."""
    pairs = [pair for module in MODULES for pair in module.list_opts().items()]
    return sorted(pairs, key=_sort_key)


def set_lib_defaults(conf: cfg.ConfigOpts | None = None) -> None:
    """Set the defaults Cyborg wants in the libraries it configures.

    The generator calls this with no argument; services pass the ConfigOpts they parse.
    Policy and messaging defaults are set on the libraries' option objects, so they
    apply to every ConfigOpts in the process.
    """
    conf = cfg.CONF if conf is None else conf
    db_options.set_defaults(conf, connection=database.DEFAULT_CONNECTION)
    # Recent oslo.policy has no enforce_scope option (scope is always enforced) and
    # skips the name; older releases that requirements.txt still allows read it.
    policy_opts.set_defaults(
        conf, policy_file="policy.yaml", enforce_scope=True, enforce_new_defaults=True
    )
    # Imported here: importing oslo.messaging makes oslo.service pick its concurrency
    # backend, and entry points must get to choose the threading one first.
    import oslo_messaging

    oslo_messaging.set_transport_defaults("cyborg")
