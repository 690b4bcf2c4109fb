"""Options of the [scheduler] group: the graph-aware planner in the conductor."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "scheduler",
    title="Graph-aware scheduler",
    help="How the conductor plans a model graph on the accelerators of its inventory "
    "(POST /v2/graphs/{uuid}/plans, microversion 2.5).",
)

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "driver",
        default="graph_aware",
        help="The scheduler plugin, by its name in the stevedore namespace "
        "cyborg.scheduler: graph_aware (speed-, memory- and link-aware) or first_fit "
        "(nodes in order on the first device with memory left).",
    ),
    cfg.FloatOpt(
        "effort",
        default=1.0,
        min=0.01,
        max=100.0,
        help="Multiplier of the planner's optional search work (deterministic work "
        "units, not time).",
    ),
    cfg.IntOpt(
        "job_round_interval",
        default=60,
        min=0,
        help="Seconds between the conductor's rounds over the queue of cluster-scheduling "
        "jobs (API microversion 2.9): queued jobs, highest priority first, get proposed "
        "devices among those no ARQ, pod or allocated job holds, and become allocated. "
        "0 turns the rounds off (jobs stay queued).",
    ),
    cfg.StrOpt(
        "job_policy",
        default="max_throughput",
        choices=["max_throughput", "max_min", "max_min_projects", "min_jct"],
        help="The cluster scheduler's allocation policy for the jobs of one priority "
        "(cyborg.scheduler.cluster.policies): total normalized throughput, max-min "
        "fairness across jobs or projects, or the least average completion time.",
    ),
    cfg.IntOpt(
        "jobs_per_round",
        default=200,
        min=1,
        max=10000,
        help="Queued jobs one round considers at most, from the head of the queue.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    return {GROUP: OPTS}
