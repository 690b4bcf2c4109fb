"""cyborg-aio: the embedded all-in-one service on one machine.

Keeps its state (a SQLite database) in ``--state-dir``, which survives restarts,
and uses no-auth on 127.0.0.1.
"""

import atexit
import os
import socket
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import oslo_messaging
import platformdirs
from oslo_config import cfg
from oslo_db.sqlalchemy import engines
from oslo_log import log

from cyborg.cmd import aio_fpga, aio_host, aio_progress, aio_usage, kubernetes_node, service
from cyborg.cmd import api as api_cmd
from cyborg.db import migration
from cyborg.drivers.base import Driver
from cyborg.wsgi import embedded_images, embedded_placement

LOG = log.getLogger(__name__)

DESCRIPTION = (
    "Run the Cyborg all-in-one: API, conductor, agent and an embedded Placement in one "
    "process, with SQLite in a state directory and no authentication on 127.0.0.1. "
    "For trying Cyborg out and for development; use the separate services in production."
)

DEFAULT_STATE_DIR = platformdirs.user_data_dir("cyborg-aio")
DEFAULT_PORT = 6666
CLI_OPTS = [
    cfg.StrOpt(
        "state-dir",
        default=DEFAULT_STATE_DIR,
        sample_default="<user data dir>/cyborg-aio",
        help="Directory for the database and other state; created if missing "
        f"(default: {DEFAULT_STATE_DIR}).",
    ),
    cfg.PortOpt(
        "port",
        default=DEFAULT_PORT,
        help=f"Port of the API and the embedded Placement on 127.0.0.1 (default: {DEFAULT_PORT}).",
    ),
]


def prepare_state(conf: cfg.ConfigOpts, startup: aio_progress.Startup | None = None) -> str:
    """Create the state directory and bring its SQLite schema to head; return the DB URL."""
    startup = startup or aio_progress.Startup()
    state_dir = os.path.abspath(os.path.expanduser(conf.state_dir))
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    url = f"sqlite:///{os.path.join(state_dir, 'cyborg.sqlite')}"
    conf.set_override("state_path", state_dir)
    conf.set_override("connection", url, group="database")
    conf.set_override("auth_strategy", "noauth")
    engine = engines.create_engine(url, sqlite_fk=True)
    try:
        before = migration.current_revision(engine)
        startup.reached(aio_progress.DATABASE, url)
        migration.upgrade(engine)
        startup.reached(aio_progress.MIGRATIONS, f"schema at {migration.current_revision(engine)}")
        LOG.info(
            "Database %s: schema %s",
            url,
            "created" if before is None else f"at {migration.current_revision(engine)}",
        )
    finally:
        engine.dispose()
    return url


def configure_single_process(conf: cfg.ConfigOpts) -> None:
    """Everything in one process: in-process messaging, one API worker, loopback only."""
    oslo_messaging.TransportURL.parse(conf)  # registers [DEFAULT] transport_url
    conf.set_override("transport_url", "fake:///cyborg-aio")
    conf.set_override("host_ip", "127.0.0.1", "api")
    conf.set_override("port", conf.port, "api")
    conf.set_override("api_workers", 1, "api")


def start_conductor(conf: cfg.ConfigOpts) -> Any:
    """The conductor's RPC server on the in-process transport, in this process."""
    from cyborg.conductor import server

    conductor = server.start(conf)
    LOG.info("cyborg-aio: conductor started (in-process messaging)")
    return conductor


def start_agent(
    conf: cfg.ConfigOpts, startup: aio_progress.Startup | None = None
) -> threading.Thread:
    """An agent thread: every driver, or the simulated host when none finds hardware;
    and the agent's RPC server."""
    from cyborg.agent import captures, programming
    from cyborg.agent import drivers as agent_drivers
    from cyborg.agent.resource_tracker import ResourceTracker
    from cyborg.common import context as cyborg_context
    from cyborg.conductor import rpcapi
    from cyborg.conf import gpu_devices

    hostname = conf.agent.resource_provider_name
    gpu_devices.register_dynamic_opts(conf)
    real = [n for n in agent_drivers.known() if n != "fake_driver"]
    loaded = agent_drivers.load(conf, real, conf.agent.sysfs_root, hostname)
    simulated = aio_host.simulated_host(conf, conf.agent.sysfs_root, hostname)
    drivers: list[Driver] = [agent_drivers.FirstThatFinds(loaded, simulated)]
    conductor_api = rpcapi.ConductorAPI(conf)
    tracker = ResourceTracker(
        hostname,
        drivers,
        conductor_api,
        before_discovery=lambda: captures.capture(
            conf.agent.sysfs_root, real, conf.gpu_devices.xid_source, conf.gpu_devices.xid_window
        ),
    )
    # The same Kubernetes parts as cyborg-agent's, when [kubernetes] turns them on.
    programmer = programming.Programmer(conf, drivers, hostname)
    node = kubernetes_node.start(conf, tracker, drivers, programmer, conductor_api)
    atexit.register(node.stop, conf.graceful_shutdown_timeout / 2)
    aio_fpga.serve_agent(conf, tracker, programmer)  # FPGA programming, vGPU mdevs

    def loop() -> None:
        context = cyborg_context.get_admin_context()
        # The first report is synced to the embedded Placement, served on our port.
        _wait_for_port(conf.api.port)
        hinted, programmed = False, False
        root = f"http://127.0.0.1:{conf.api.port}"
        while True:
            try:
                tracker.report(context)
                if startup is not None:
                    startup.reached(aio_progress.FIRST_REPORT, hostname)
                if not hinted and (hint := aio_usage.bind_hint(context, hostname)):
                    print(hint, flush=True)
                    hinted = True
                if not programmed and (hint := aio_usage.program_hint(context, root, hostname)):
                    print(hint, flush=True)
                    programmed = True
            except Exception:
                LOG.exception("cyborg-aio: agent report failed")
            time.sleep(conf.agent.report_interval)

    thread = threading.Thread(target=loop, name="cyborg-aio-agent", daemon=True)
    thread.start()
    LOG.info(
        "cyborg-aio: agent started as %s (drivers: %s; fake host if none finds hardware)",
        hostname,
        ", ".join(real),
    )
    return thread


def _wait_for_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)


def port_taken(port: int) -> str | None:
    """Why the all-in-one cannot listen on ``port``, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as err:
            return (
                f"cannot listen on 127.0.0.1:{port} ({err.strerror}); another cyborg-aio "
                "or another server has it: stop it, or choose a free port with --port"
            )
    return None


class _AIOServer(api_cmd.Gunicorn):
    def __init__(self, conf: cfg.ConfigOpts, startup: aio_progress.Startup | None = None):
        self.startup = startup or aio_progress.Startup()
        super().__init__(conf)

    def load(self) -> Any:
        app = super().load()  # configures the database for this process
        self.startup.reached(aio_progress.API)
        placement = embedded_placement.application(self.conf.state_path)
        self.startup.reached(aio_progress.PLACEMENT)
        LOG.info(
            "cyborg-aio: embedded Placement at http://127.0.0.1:%s%s (token %s)",
            self.conf.api.port,
            embedded_placement.PREFIX,
            embedded_placement.ADMIN_TOKEN,
        )
        start_conductor(self.conf)
        self.startup.reached(aio_progress.CONDUCTOR)
        start_agent(self.conf, self.startup)
        self.startup.reached(aio_progress.AGENT)
        print(aio_usage.usage(f"http://127.0.0.1:{self.conf.api.port}"), flush=True)
        images = embedded_images.application(aio_fpga.images())
        app = embedded_placement.mount(app, images, embedded_images.PREFIX)
        self.startup.reached(aio_progress.READY)
        return embedded_placement.mount(app, placement)


def main(argv: Sequence[str] | None = None, conf: cfg.ConfigOpts | None = None) -> int:
    conf = conf if conf is not None else cfg.CONF
    conf.register_cli_opts(CLI_OPTS)
    service.prepare("cyborg-aio", DESCRIPTION, argv, conf)
    refusal = port_taken(conf.port)
    if refusal is not None:
        print(f"cyborg-aio: {refusal}", file=sys.stderr)
        return 2
    startup = aio_progress.Startup()  # on stderr: a step per start-up phase
    prepare_state(conf, startup)
    configure_single_process(conf)
    embedded_placement.client_options(
        conf, f"http://127.0.0.1:{conf.port}{embedded_placement.PREFIX}"
    )
    aio_fpga.client_options(conf, f"http://127.0.0.1:{conf.port}{embedded_images.PREFIX}")
    LOG.info("cyborg-aio: state in %s", conf.state_path)
    _AIOServer(conf, startup).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
