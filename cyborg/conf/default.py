"""Options of the [DEFAULT] group: identity of this host and shared timers."""

import socket

from oslo_config import cfg

GROUP = "DEFAULT"

AUTH_STRATEGIES = [
    (
        "keystone",
        "Validate the X-Auth-Token header with keystonemiddleware; use in any real cloud.",
    ),
    (
        "noauth",
        "Trust the X-User-Id, X-Project-Id, X-Roles and X-Service-Roles headers and build "
        "the request context from them without checking any token. Meant for the embedded "
        "all-in-one service (cyborg-aio) and tests; never expose it to untrusted clients.",
    ),
]

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "host",
        default=socket.gethostname(),
        sample_default="<hostname>",
        help="Name of this node. It is the RPC server name of the conductor and agent "
        "running here, so it must be unique among the Cyborg services and stable across "
        "restarts. Change it only when the host name is not unique or not stable.",
    ),
    cfg.StrOpt(
        "state_path",
        default="/var/lib/cyborg",
        help="Directory where Cyborg keeps its state, such as the default SQLite database "
        "($state_path/cyborg.sqlite). Must be writable by the service user.",
    ),
    cfg.StrOpt(
        "auth_strategy",
        default="keystone",
        choices=AUTH_STRATEGIES,
        help="How the API authenticates requests.",
    ),
    cfg.IntOpt(
        "graceful_shutdown_timeout",
        default=60,
        min=0,
        help="Seconds a service stopping on SIGTERM or SIGINT lets the work it is doing "
        "finish: cyborg-api's requests being served, a conductor's calls, binds and "
        "periodic tasks, an agent's calls and report. Then it exits anyway: a bind still "
        "running stays BindStarted and another conductor takes it over (see [conductor] "
        "conductor_dead_after); a report is sent again by the agent; an FPGA "
        "programming the agent had started is left to its tool. 0 waits for nothing.",
    ),
    cfg.IntOpt(
        "periodic_interval",
        default=60,
        min=1,
        help="Longest time, in seconds, between two runs of the periodic tasks of the "
        "conductor and agent. Lower it to notice changes sooner at the cost of more work.",
    ),
    cfg.IntOpt(
        "thread_pool_size",
        default=10,
        min=1,
        help="Number of threads a service uses for background jobs such as binding "
        "accelerator requests and programming devices. Raise it when many binds run at "
        "once and finish late.",
    ),
    cfg.IntOpt(
        "bind_timeout",
        default=60,
        min=1,
        help="Seconds to wait for an accelerator request to be bound before the bind is "
        "reported as failed. Raise it for devices that take long to program.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    return {GROUP: OPTS}
