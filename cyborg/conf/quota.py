"""Options of the [quota] group: ARQs per project, and limits of the standalone
binding path."""

from oslo_config import cfg, types

GROUP = cfg.OptGroup(
    "quota",
    title="Quota of accelerator requests, and of accelerators Cyborg claims itself",
    help="accelerator_requests bounds the ARQs each project holds, whoever binds them. "
    "limits bounds, per project, the accelerators the conductor claims in Placement "
    "for binds without a device_rp_uuid (standalone use, without Nova); accelerators "
    "that Nova schedules and binds are counted by Nova's quota only. When [oslo_limit] "
    "names Cyborg's endpoint in Keystone (endpoint_id, or endpoint_service_type / "
    "endpoint_service_name, with the oslo.limit auth options), Keystone unified limits "
    "named class:<resource class> apply instead of limits, and a class without a "
    "registered limit cannot be claimed.",
)

OPTS: list[cfg.Opt] = [
    cfg.IntOpt(
        "accelerator_requests",
        default=1000,
        min=-1,
        help="Largest number of accelerator requests (ARQs) one project may hold, in "
        "any state, whether Nova or Cyborg binds them; -1 for no limit. Checked when "
        "ARQs are created, and again once they are (two creates racing for the last "
        "room may then both fail). Over it, POST /v2/accelerator_requests is refused "
        "with 403. Keystone unified limits do not change it.",
    ),
    cfg.Opt(
        "limits",
        type=types.Dict(value_type=types.Integer(min=0)),
        default={},
        help="Limit per project, by resource class, on what Cyborg's own claims hold, "
        "e.g. FPGA:4,PGPU:2,CUSTOM_QAT:1. A class not listed is unlimited; 0 forbids "
        "it. Checked before a standalone bind changes anything, and again once its "
        "claim is made (two binds racing may then both fail). Over the limit, the bind "
        "is refused with 403.",
    ),
    cfg.IntOpt(
        "queued_jobs",
        default=100,
        min=-1,
        help="Largest number of queued cluster-scheduling jobs (API microversion 2.9) "
        "one project may have waiting at once; -1 for no limit. Over it, POST /v2/jobs "
        "is refused with 403 until a job of the project leaves the queue (allocated or "
        "cancelled). Checked in the transaction that queues the job: two requests "
        "racing for the last room may both get it.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    return {GROUP: OPTS}
