"""Options of the [conductor] group."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "conductor",
    title="Conductor options",
    help="Options for cyborg-conductor, which owns the database and talks to Placement.",
)

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "topic",
        default="cyborg-conductor",
        help="RPC topic the conductors listen on and the API and agents call. RabbitMQ "
        "names the conductors' queue after it, so two Cyborg deployments sharing one "
        "RabbitMQ virtual host need different topics (or, better, vhosts).",
    ),
    cfg.IntOpt(
        "workers",
        default=1,
        min=1,
        help="Number of conductor worker processes. Raise it when RPC calls queue up "
        "behind each other on a large deployment.",
    ),
    cfg.IntOpt(
        "host_stale_after",
        default=300,
        min=1,
        help="Seconds after which an agent that has not reported is marked stale. Its "
        "devices are kept: staleness is shown to operators, never a reason to delete "
        "devices. Keep it a few times larger than [agent] report_interval.",
    ),
    cfg.IntOpt(
        "bind_timeout",
        default=300,
        min=1,
        help="Seconds an accelerator request may stay BindStarted without a change "
        "before any conductor takes its bind over and finishes it, ending in Bound or "
        "BindFailed and telling Nova, whatever became of the conductor binding it (one "
        "that hangs; binds started before conductors recorded heartbeats). Binds of a "
        "conductor that stopped are taken over sooner, after conductor_dead_after. Keep "
        "it above the longest FPGA programming time.",
    ),
    cfg.IntOpt(
        "conductor_dead_after",
        default=180,
        min=3,
        help="Seconds without a heartbeat after which a conductor is taken for dead, "
        "and another conductor takes over the binds it left BindStarted at its next "
        "periodic run ([DEFAULT] periodic_interval), finishing or failing each. Every "
        "conductor writes its heartbeat to the database every third of this; one that "
        "stops cleanly, or starts again on its host, hands its binds over at once. Keep "
        "it well above the conductors' clock skew and a database failover's length.",
    ),
    cfg.IntOpt(
        "deadline_margin",
        default=5,
        min=1,
        help="Seconds before a caller stops waiting for a conductor call (after "
        "rpc_response_timeout) that the call's deadline falls: a conductor starts and "
        "commits a call only before its deadline, so a caller that timed out can tell "
        "for sure whether it happened. Keep it above the clock skew between the API, "
        "agent and conductor hosts (run NTP) and well below rpc_response_timeout. Set "
        "it in the callers' configuration (cyborg-api, cyborg-agent).",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # By name, so each ConfigOpts gets its own group (see cyborg.conf).
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    return {GROUP: OPTS}
