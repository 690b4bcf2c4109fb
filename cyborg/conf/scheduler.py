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
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    return {GROUP: OPTS}
