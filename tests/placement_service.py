"""The real OpenStack Placement service (``openstack-placement``) for tests.

``PlacementService`` writes a ``placement.conf`` (``[api] auth_strategy = noauth2``, a
fresh SQLite database by default), creates the schema with ``placement-manage db
sync`` and serves ``placement.wsgi.api:application`` with gunicorn on a free loopback
port. noauth2 takes the token ``admin`` as an administrator, so Cyborg reaches it with
``[placement] auth_type = admin_token``, ``token = admin`` and
``endpoint_override = <endpoint>``. Given ``keystone_authtoken`` options, it checks
tokens with Keystone instead (``auth_strategy = keystone``, as in production).

Environment:
  CYBORG_TEST_PLACEMENT_DB  SQLAlchemy URL of an empty database for Placement
                            (default: a SQLite file in the service's directory)
"""

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

from tests import service_process

WSGI_APP = "placement.wsgi.api:application"
ADMIN_TOKEN = "admin"  # noauth2's administrator
_LISTENING = re.compile(r"Listening at: (http://127\.0\.0\.1:\d+)")
HOW_TO_FIX = (
    "Placement comes from the `openstack-placement` package of requirements.txt: "
    "run tools/ensure-venv.sh --with-tests (or `.venv/bin/pip install -c "
    "upper-constraints.txt openstack-placement gunicorn`)."
)


class PlacementUnavailable(Exception):
    """Placement could not be started; the message holds its log and how to fix it."""


def _bin(name: str) -> str:
    return os.path.join(os.path.dirname(sys.executable), name)


def _gunicorn_args() -> list[str]:
    """gunicorn >= 24 opens a control socket in ~/.gunicorn: one per service, not shared."""
    from gunicorn import config

    names = {setting.name for setting in config.KNOWN_SETTINGS}
    return ["--no-control-socket"] if "no_control_socket" in names else []


class PlacementService:
    def __init__(
        self,
        directory: str,
        database_url: str | None = None,
        keystone_authtoken: dict[str, str] | None = None,
        *,
        workers: int = 1,
        access_log: bool = False,
    ) -> None:
        """``keystone_authtoken``: run with ``auth_strategy = keystone`` and these options;
        ``workers`` gunicorn workers; ``access_log``: one line per request in
        ``access_log_path`` (the benchmarks count them)."""
        self.directory = directory
        self.workers = workers
        self.access_log_path = os.path.join(directory, "access.log") if access_log else ""
        self.keystone_authtoken = keystone_authtoken
        self.database_url = database_url or os.environ.get(
            "CYBORG_TEST_PLACEMENT_DB", f"sqlite:///{os.path.join(directory, 'placement.sqlite')}"
        )
        self.log_path = os.path.join(directory, "placement.log")
        self.endpoint = ""
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> str:
        return os.path.join(self.directory, "placement.conf")

    @property
    def pid(self) -> int | None:
        """The gunicorn master's process id, once started."""
        return self._process.pid if self._process is not None else None

    def _write_config(self) -> None:
        auth = "noauth2" if self.keystone_authtoken is None else "keystone"
        with open(self.config_path, "w") as conf:
            conf.write(
                "[DEFAULT]\ndebug = False\n"
                f"[api]\nauth_strategy = {auth}\n"
                f"[placement_database]\nconnection = {self.database_url}\n"
            )
            if self.keystone_authtoken is not None:
                options = self.keystone_authtoken.items()
                conf.write("[keystone_authtoken]\n" + "".join(f"{k} = {v}\n" for k, v in options))

    def _fail(self, what: str) -> None:
        raise PlacementUnavailable(
            f"{what}. Last lines of {self.log_path}:\n"
            f"{service_process.tail(self.log_path)}\n{HOW_TO_FIX}"
        )

    def start(self, timeout: float = 60) -> str:
        """Create the schema, start the server; return its endpoint."""
        os.makedirs(self.directory, exist_ok=True)
        self._write_config()
        with open(self.log_path, "ab") as log:
            try:
                sync = subprocess.run(
                    [_bin("placement-manage"), "--config-file", self.config_path, "db", "sync"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as err:
                self._fail(f"placement-manage db sync could not run: {err}")
            if sync.returncode != 0:
                self._fail(f"placement-manage db sync exited with {sync.returncode}")
            command = [_bin("gunicorn"), "--bind", "127.0.0.1:0", "--workers", str(self.workers)]
            if self.access_log_path:
                command += ["--access-logfile", self.access_log_path]
            command += [*_gunicorn_args(), "--chdir", self.directory, WSGI_APP]
            env = {**os.environ, "OS_PLACEMENT_CONFIG_DIR": self.directory}
            try:
                self._process = subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
                )
            except OSError as err:
                self._fail(f"gunicorn could not start: {err}")
        self.endpoint = self._wait_until_serving(timeout)
        return self.endpoint

    def _wait_until_serving(self, timeout: float) -> str:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        endpoint = ""
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._fail(f"gunicorn exited with {self._process.returncode}")
            if not endpoint:
                match = _LISTENING.search(service_process.tail(self.log_path, 200))
                endpoint = match.group(1) if match else ""
            if endpoint and service_process.answers(endpoint):
                return endpoint
            time.sleep(0.1)
        self.stop()
        self._fail(f"Placement did not answer within {timeout}s")
        return ""  # not reached

    def stop(self) -> None:
        service_process.stop(self._process)


@contextlib.contextmanager
def running(directory: str) -> Iterator[PlacementService]:
    service = PlacementService(directory)
    service.start()
    try:
        yield service
    finally:
        service.stop()
