"""A RabbitMQ node of the test's own, which it may stop and start again.

The node has its own name, AMQP and distribution ports, database (mnesia), logs,
Erlang cookie and an empty plugin list, so it never meets the machine's shared broker.
It listens on every address, and lets ``guest`` in from anywhere, so that an agent in
a network namespace of its own (tests/functional/netns.py) reaches it over a veth
link. A restart keeps the node's name and database, as a broker restarted by an
operator does; what clients declared (non-durable queues) is gone and must be
declared again by them.
"""

import os
import shutil
import socket
import subprocess
import time
import uuid

import kombu

from tests import service_process
from tests.functional import services

# Debian's /usr/sbin/rabbitmq-server switches to the rabbitmq user, losing our
# directories' ownership; the script it runs takes our environment as it is.
SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
HOW_TO_INSTALL = (
    "rabbitmq-server is needed for the fault tests (a private node is started and "
    "stopped): install it with `apt-get install rabbitmq-server` or "
    "`tools/test-services.sh rabbitmq`."
)


class RabbitUnavailable(Exception):
    """The node could not be started; the message says why and how to fix it."""


def _program() -> str:
    if os.access(SERVER, os.X_OK):
        return SERVER
    found = shutil.which("rabbitmq-server")
    if found is None:
        raise RabbitUnavailable(HOW_TO_INSTALL)
    return found


class PrivateRabbit:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.node = f"cyborg-test-{uuid.uuid4().hex[:8]}@localhost"
        self.port = services.free_port()
        self.dist_port = services.free_port()
        self.log_path = os.path.join(directory, "rabbitmq.out")
        self._process: subprocess.Popen[bytes] | None = None
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "rabbitmq.conf"), "w") as conf:
            conf.write(
                f"listeners.tcp.default = {self.port}\n"
                "loopback_users = none\n"
                # The machine's disk may be nearly full of other tests' data.
                "disk_free_limit.absolute = 1MB\n"
            )
        with open(os.path.join(directory, "enabled_plugins"), "w") as plugins:
            plugins.write("[].\n")
        open(os.path.join(directory, "rabbitmq-env.conf"), "w").close()

    def url(self, host: str = "127.0.0.1") -> str:
        return f"rabbit://guest:guest@{host}:{self.port}/"

    def _environment(self) -> dict[str, str]:
        join = os.path.join
        return {
            **os.environ,
            "HOME": self.directory,  # the Erlang cookie is made there
            "RABBITMQ_CONF_ENV_FILE": join(self.directory, "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": join(self.directory, "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": join(self.directory, "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": join(self.directory, "mnesia"),
            "RABBITMQ_LOG_BASE": join(self.directory, "log"),
            "RABBITMQ_PID_FILE": join(self.directory, "rabbitmq.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self, timeout: float = 120) -> None:
        """Start the node and wait until it accepts a login."""
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [_program()],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._environment(),
                cwd=self.directory,
                start_new_session=True,  # its Erlang helpers stop with it
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._fail(f"rabbitmq-server exited with {self._process.returncode}")
            if self.accepts_login():
                return
            time.sleep(0.5)
        self.stop()
        self._fail(f"RabbitMQ did not accept a login within {timeout}s")

    def accepts_login(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        connection = kombu.Connection(
            hostname="127.0.0.1", port=self.port, userid="guest", password="guest"
        )
        try:
            connection.ensure_connection(max_retries=0, timeout=3)
            return True
        except Exception:  # booting: the port may answer before the broker does
            return False
        finally:
            connection.release()

    def stop(self, timeout: float = 60) -> None:
        """A clean shutdown (SIGTERM), as an operator's restart does."""
        service_process.stop(self._process, timeout)
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def _fail(self, what: str) -> None:
        raise RabbitUnavailable(
            f"{what}. Last lines of {self.log_path}:\n{service_process.tail(self.log_path)}\n"
            f"{HOW_TO_INSTALL}"
        )
