"""Options of the [upgrade_levels] group: RPC version caps for rolling upgrades."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "upgrade_levels",
    title="RPC version caps",
    help="During a rolling upgrade, services of two releases talk to each other. Cap "
    "the RPC version a service sends to the one the oldest peer still running "
    "understands; remove the cap once every peer is upgraded. A request that needs a "
    "newer version than the cap is refused with 409, naming the services to upgrade, "
    "before anything changes. Unset: the newest version this release knows.",
)

_VERSION = r"^\d+\.\d+$"

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "conductor",
        regex=_VERSION,
        help="The highest cyborg-conductor RPC API version that the API services and "
        "agents send (for example 1.4 while conductors of the previous release still "
        "run). Upgrade the conductors first and this is rarely needed.",
    ),
    cfg.StrOpt(
        "agent",
        regex=_VERSION,
        help="The highest cyborg-agent RPC API version that the conductors send (for "
        "example 1.1 while agents of the previous release still run): vGPU binds, which "
        "need 1.2, are then refused instead of failing on the old agents.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    return {GROUP: OPTS}
