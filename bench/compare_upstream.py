"""Upstream Cyborg 17.0.0 for the side-by-side benchmark (bench/compare.py).

``openstack-cyborg==17.0.0`` from PyPI is installed, pinned by
bench/compare_upstream_constraints.txt, into a virtualenv of its own (built once,
kept between runs). Its conductor, its agent (``fake_driver``: one FPGA board of 16
accelerators) and its API under gunicorn run against a database of their own on the
same MariaDB, the same RabbitMQ node and Placement as ours, and the same Nova
stand-in. What upstream needs that a deployment would otherwise give it:

* its API served by gunicorn (its ``cyborg-api`` script cannot start: see
  bench/compare_upstream_wsgi.py);
* its paste pipeline without ``authtoken``: identity comes from the same
  ``X-User-Id``/``X-Project-Id``/``X-Roles``/``X-Service-Roles`` headers our no-auth
  mode reads;
* the compute node's provider in Placement before its agent starts (nova-compute
  would have made it);
* its conductor's RPC queue before its agent's first report (sent once, at start).
"""

import os
import pathlib
import subprocess
import sys
import time
import uuid
from collections.abc import Callable

import kombu
import requests

from tests import service_process
from tests.functional import services

VERSION = "17.0.0"
HERE = pathlib.Path(__file__).resolve().parent
CONSTRAINTS = HERE / "compare_upstream_constraints.txt"
DEFAULT_VENV = pathlib.Path.home() / ".cache" / "cyborg-bench" / f"upstream-{VERSION}"
PLACEMENT_HEADERS = {"X-Auth-Token": "admin", "OpenStack-API-Version": "placement 1.39"}

PASTE = """\
[pipeline:main]
pipeline = cors http_proxy_to_wsgi request_id api_v2

[app:api_v2]
paste.app_factory = cyborg.api.app:app_factory

[filter:request_id]
paste.filter_factory = oslo_middleware:RequestId.factory

[filter:cors]
paste.filter_factory = oslo_middleware.cors:filter_factory
oslo_config_project = cyborg

[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware.http_proxy_to_wsgi:HTTPProxyToWSGI.factory
"""


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Ours minus what would put our ``cyborg`` package in front of upstream's."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    return {**{k: v for k, v in os.environ.items() if k not in dropped}, **(extra or {})}


class UpstreamUnavailable(Exception):
    """The virtualenv could not be built or a service did not start; says why."""


def ensure_venv(venv: pathlib.Path, log: Callable[[str], None]) -> pathlib.Path:
    """The venv's python, installing upstream into it unless it holds these pins."""
    marker = venv / ".bench-installed"
    pins = CONSTRAINTS.read_text()
    python = venv / "bin" / "python"
    if marker.exists() and marker.read_text() == pins and python.exists():
        return python
    log(f"installing openstack-cyborg=={VERSION} into {venv} (once; a few minutes)")
    venv.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [
            str(venv / "bin" / "pip"),
            "install",
            "-q",
            "--disable-pip-version-check",
            "-c",
            str(CONSTRAINTS),
            f"openstack-cyborg=={VERSION}",
            "PyMySQL",
            "gunicorn",
        ],
    ]
    for step in steps:
        done = subprocess.run(  # noqa: S603 - our own command lines
            step, capture_output=True, text=True, check=False, timeout=1800, env=_environment()
        )
        if done.returncode != 0:
            raise UpstreamUnavailable(
                f"{' '.join(step[:3])} failed ({done.returncode}):\n{done.stderr[-3000:]}"
            )
    marker.write_text(pins)
    return python


class UpstreamStack:
    def __init__(
        self,
        directory: str,
        venv: pathlib.Path,
        database_url: str,
        rabbit_url: str,
        placement: str,
        nova: str,
        host: str = "upstream-compute-1",
        api_workers: int = 2,
    ) -> None:
        self.directory = directory
        self.bin = venv / "bin"
        self.database_url = database_url
        self.rabbit_url = rabbit_url
        self.placement = placement
        self.host = host
        self.conf_path = os.path.join(directory, "cyborg.conf")
        self.port = services.free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        os.makedirs(os.path.join(directory, "lock"), exist_ok=True)
        with open(os.path.join(directory, "api-paste.ini"), "w") as paste:
            paste.write(PASTE)
        with open(self.conf_path, "w") as conf:
            conf.write(self._conf(nova, api_workers))

    def _conf(self, nova: str, api_workers: int) -> str:
        return (
            f"[DEFAULT]\nhost = {self.host}\ntransport_url = {self.rabbit_url}\n"
            f"state_path = {self.directory}\n"
            f"[api]\nhost_ip = 127.0.0.1\nport = {self.port}\napi_workers = {api_workers}\n"
            f"api_paste_config = {self.directory}/api-paste.ini\n"
            f"[agent]\nenabled_drivers = fake_driver\nresource_provider_name = {self.host}\n"
            f"[database]\nconnection = {self.database_url}?charset=utf8mb4\n"
            "[placement]\nauth_type = admin_token\ntoken = admin\n"
            f"endpoint = {self.placement}\nendpoint_override = {self.placement}\n"
            "valid_interfaces = public\n"
            "[nova]\nauth_type = admin_token\ntoken = admin\n"
            f"endpoint = {nova}\nendpoint_override = {nova}\nvalid_interfaces = public\n"
            f"[oslo_concurrency]\nlock_path = {self.directory}/lock\n"
        )

    def log_path(self, name: str) -> str:
        return os.path.join(self.directory, f"{name}.log")

    def _spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        with open(self.log_path(name), "ab") as log:
            self.processes[name] = subprocess.Popen(  # noqa: S603 - the venv's programs
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                env=_environment(env),
                start_new_session=True,
            )

    def _wait(self, predicate: Callable[[], bool], seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if predicate():
                return
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise UpstreamUnavailable(
                        f"upstream {name} exited ({process.returncode}) while waiting for "
                        f"{what}:\n{service_process.tail(self.log_path(name))}"
                    )
            time.sleep(0.5)
        tails = "\n".join(
            f"--- {n}\n{service_process.tail(self.log_path(n), 20)}" for n in self.processes
        )
        raise UpstreamUnavailable(f"upstream: {what} not within {seconds}s\n{tails}")

    def start(self) -> None:
        sync = subprocess.run(  # noqa: S603 - the venv's program
            [str(self.bin / "cyborg-dbsync"), "--config-file", self.conf_path, "upgrade"],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
            cwd=self.directory,
            env=_environment(),
        )
        if sync.returncode != 0:
            raise UpstreamUnavailable(
                f"cyborg-dbsync failed:\n{(sync.stdout + sync.stderr)[-2000:]}"
            )
        self._compute_node_provider()
        conf = ["--config-file", self.conf_path]
        self._spawn("conductor", [str(self.bin / "cyborg-conductor"), *conf])
        self._wait(self._conductor_listens, 120, "the conductor's RPC queue")
        self._spawn("agent", [str(self.bin / "cyborg-agent"), *conf])
        self._spawn(
            "api",
            [
                str(self.bin / "gunicorn"),
                "--no-control-socket",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(2),
                "--timeout",
                # A walk of 10,000 ARQs is one answer upstream: minutes on a loaded machine.
                "900",
                "--chdir",
                str(HERE),
                "compare_upstream_wsgi:application",
            ],
            {"CYBORG_BENCH_UPSTREAM_CONF": self.conf_path},
        )
        self._wait(lambda: service_process.answers(self.api + "/"), 120, "the API")
        self._wait(self._device_published, 180, "the agent's device in Placement")

    def _compute_node_provider(self) -> None:
        body = {"name": self.host, "uuid": str(uuid.uuid3(uuid.NAMESPACE_DNS, self.host))}
        response = requests.post(
            f"{self.placement}/resource_providers",
            json=body,
            headers=PLACEMENT_HEADERS,
            timeout=30,
        )
        if response.status_code not in (200, 201, 409):
            raise UpstreamUnavailable(f"compute node provider: {response.text}")

    def _conductor_listens(self) -> bool:
        with kombu.Connection(self.rabbit_url.replace("rabbit://", "amqp://")) as connection:
            try:
                connection.channel().queue_declare("cyborg-conductor", passive=True)
                return True
            except Exception:  # not declared yet (a 404 channel error)
                return False

    def _device_published(self) -> bool:
        headers = {
            "X-User-Id": "bench",
            "X-Project-Id": uuid.UUID(int=1).hex,
            "X-Roles": "admin,member,reader",
        }
        try:
            found = requests.get(f"{self.api}/v2/deployables", headers=headers, timeout=10)
        except requests.RequestException:
            return False
        return found.ok and any(d["rp_uuid"] for d in found.json()["deployables"])

    def logs(self) -> tuple[str, ...]:
        return self.log_path("api"), self.log_path("conductor")

    def pids(self) -> dict[str, int]:
        return {f"upstream {name}": p.pid for name, p in self.processes.items()}

    def stop(self) -> None:
        for process in self.processes.values():
            service_process.stop(process)
        self.processes.clear()
