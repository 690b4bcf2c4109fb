"""Options of the [api] group: where and how the REST API listens."""

from oslo_concurrency import processutils
from oslo_config import cfg

GROUP = cfg.OptGroup(
    "api",
    title="REST API options",
    help="Options for the accelerator REST API (cyborg-api and the WSGI application).",
)

OPTS: list[cfg.Opt] = [
    cfg.HostAddressOpt(
        "host_ip",
        default="127.0.0.1",
        help="IP address or host name the standalone API server (cyborg-api) listens on. "
        "Set it to an address other hosts can reach, or leave it on loopback behind a "
        "proxy. Ignored when the API runs under an external WSGI server.",
    ),
    cfg.PortOpt(
        "port",
        default=6666,
        help="TCP port the standalone API server listens on. 6666 is the port clients "
        "and the service catalog expect for Cyborg.",
    ),
    cfg.IntOpt(
        "api_workers",
        default=processutils.get_worker_count(),
        sample_default="<number of CPUs>",
        min=1,
        help="Number of worker processes of the standalone API server. Defaults to the "
        "number of CPUs; lower it on hosts shared with other services.",
    ),
    cfg.StrOpt(
        "public_endpoint",
        help="Base URL used in the links the API returns, for example "
        "https://cloud.example.com/accelerator. Set it when the API sits behind a proxy "
        "or load balancer; when unset, links are built from the request's host URL.",
    ),
    cfg.IntOpt(
        "max_limit",
        default=1000,
        min=1,
        help="Largest number of items a single list call returns, whatever limit the "
        "client asks for. Lower it to bound the cost of one request.",
    ),
    cfg.IntOpt(
        "max_units_per_group",
        default=16,
        min=1,
        max=1024,
        help="Largest number of units one device profile group may ask for, all its "
        "resources:<RC> amounts together (resources:PGPU=8 is 8 units). A host holds "
        "few accelerators; a group asking for more than any host has can never be "
        "bound. Checked when a profile is created (400).",
    ),
    cfg.IntOpt(
        "max_arqs_per_request",
        default=64,
        min=1,
        max=1024,
        help="Largest number of accelerator requests one device profile may make, "
        "which is what one POST /v2/accelerator_requests creates (one per unit, two "
        "per FPGA of a Xilinx board). Checked when a profile is created, and by the "
        "conductor before it creates ARQs from one (400), so a profile stored before "
        "a lower limit makes no more either.",
    ),
    cfg.IntOpt(
        "max_request_body_size",
        default=16 * 2**20,
        min=1024,
        help="Largest request body, in bytes, the API reads. A request that announces a "
        "bigger Content-Length is refused with 413 before any of it is read; a chunked "
        "body is refused with 413 as soon as it grows past the limit, having read at "
        "most one byte more. The biggest legitimate bodies are ONNX models sent as "
        "base64 to POST /v2/graphs: 16 MiB holds a model of about 12 MiB (weights "
        "included; the scheduler needs only the graph). Raise it only together with "
        "the broker's largest message (RabbitMQ 4 refuses messages over 16 MiB by "
        "default), since the model travels to the conductor in one RPC message.",
    ),
    cfg.IntOpt(
        "request_read_timeout",
        default=30,
        min=1,
        help="Seconds a client of the standalone API server (cyborg-api) has to send a "
        "request's line and headers, and as long again for its body. A slower client is "
        "answered 408 and disconnected. While a request is still arriving it holds no "
        "worker thread, so slow or stalled clients do not delay anyone else. Ignored "
        "under an external WSGI server, which has its own timeouts.",
    ),
    cfg.BoolOpt(
        "noauth_allow_remote",
        default=False,
        help="With auth_strategy = noauth the API refuses to listen on a non-loopback "
        "address, because anyone who can reach it can claim any identity. Set this to "
        "True only on an isolated test network.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # By name, so each ConfigOpts gets its own group (see cyborg.conf).
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    return {GROUP: OPTS}
