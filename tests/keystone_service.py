"""The real OpenStack Keystone service for tests, from its own virtual environment.

Keystone's requirements clash with Cyborg's, so it lives in ``.venv/keystone``
(tools/ensure-venv.sh --with-tests). ``KeystoneService`` writes a ``keystone.conf``
(SQLite, fernet tokens, key repositories in its directory), runs ``keystone-manage``
``db_sync``, ``fernet_setup``, ``receipt_setup`` and ``credential_setup``, serves
``keystone.wsgi.api:application`` with gunicorn on a free loopback port, then runs
``bootstrap``: user ``admin`` (``ADMIN_PASSWORD``) with the admin role on project
``admin``, roles ``reader``, ``member``, ``manager``, ``admin`` and ``service``, and
the identity service in the catalog (region ``RegionOne``, all three interfaces at
``auth_url``). Everything else (projects, users, other services) is the caller's,
through ``admin_session()`` and ``create_*``.

Environment:
  CYBORG_TEST_KEYSTONE_VENV  the virtual environment holding keystone and gunicorn
                             (default: .venv/keystone of this repository)
"""

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from tests import service_process

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.environ.get("CYBORG_TEST_KEYSTONE_VENV", os.path.join(REPOSITORY, ".venv", "keystone"))
# keystone.wsgi.api parses sys.argv with oslo.config when imported, and gunicorn's
# arguments are not Keystone's: this module, written next to keystone.conf, drops them.
WSGI_MODULE = "keystone_wsgi"
WSGI_SOURCE = "import sys\n\nsys.argv[1:] = []\nfrom keystone.wsgi.api import application\n"
REGION = "RegionOne"
ADMIN_PASSWORD = "admin-secret"
HOW_TO_FIX = (
    "Keystone runs from a virtual environment of its own: run tools/ensure-venv.sh "
    "--with-tests (or `python3 -m venv .venv/keystone && .venv/keystone/bin/pip install "
    "keystone==30.0.0 gunicorn==27.0.1`), or point CYBORG_TEST_KEYSTONE_VENV at one."
)


class KeystoneUnavailable(Exception):
    """Keystone could not be started; the message holds its log and how to fix it."""


def require_installed() -> None:
    """Raise KeystoneUnavailable, saying how to fix it, when VENV lacks Keystone."""
    for program in ("keystone-manage", "gunicorn"):
        if not os.access(os.path.join(VENV, "bin", program), os.X_OK):
            raise KeystoneUnavailable(f"{VENV}/bin/{program} is missing. {HOW_TO_FIX}")


class KeystoneService:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.log_path = os.path.join(directory, "keystone.log")
        # Known before start, so that services configured with it can start alongside.
        self.endpoint = f"http://127.0.0.1:{_free_port()}"
        self._process: subprocess.Popen[bytes] | None = None
        self._admin: ks_session.Session | None = None
        self._ids: dict[tuple[str, str], str] = {}  # (collection, name) -> id

    @property
    def auth_url(self) -> str:
        return f"{self.endpoint}/v3"

    @property
    def config_path(self) -> str:
        return os.path.join(self.directory, "keystone.conf")

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def _write_config(self) -> None:
        with open(self.config_path, "w") as conf:
            conf.write(
                "[DEFAULT]\ndebug = False\n"
                f"[database]\nconnection = sqlite:///{self._path('keystone.sqlite')}\n"
                "[token]\nprovider = fernet\n"
                f"[fernet_tokens]\nkey_repository = {self._path('fernet-keys')}\n"
                f"[fernet_receipts]\nkey_repository = {self._path('fernet-receipts')}\n"
                f"[credential]\nkey_repository = {self._path('credential-keys')}\n"
                # bcrypt's fewest rounds: every authentication hashes the password.
                "[identity]\npassword_hash_rounds = 4\n"
            )
        with open(self._path(f"{WSGI_MODULE}.py"), "w") as module:
            module.write(WSGI_SOURCE)

    def _fail(self, what: str) -> None:
        raise KeystoneUnavailable(
            f"{what}. Last lines of {self.log_path}:\n"
            f"{service_process.tail(self.log_path)}\n{HOW_TO_FIX}"
        )

    def _manage(self, log: Any, timeout: float, *commands: list[str]) -> None:
        """Run ``keystone-manage`` commands side by side (each takes seconds to import)."""
        running: list[tuple[str, subprocess.Popen[bytes]]] = []
        for args in commands:
            command = [os.path.join(VENV, "bin", "keystone-manage"), "--config-file"]
            try:
                process = subprocess.Popen(
                    [*command, self.config_path, *args], stdout=log, stderr=subprocess.STDOUT
                )
            except OSError as err:
                self._fail(f"keystone-manage {args[0]} could not run: {err}")
            running.append((args[0], process))
        try:
            for name, process in running:
                try:
                    returncode = process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self._fail(f"keystone-manage {name} took more than {timeout}s")
                if returncode != 0:
                    self._fail(f"keystone-manage {name} exited with {returncode}")
        finally:
            for _, process in running:  # the others, once one failed
                if process.poll() is None:
                    process.kill()
                    process.wait()

    def start(self, timeout: float = 300) -> str:
        """Set up the database and keys, bootstrap, start the server; return auth_url."""
        require_installed()
        os.makedirs(self.directory, exist_ok=True)
        self._write_config()
        owner = ["--keystone-user", "root", "--keystone-group", "root"]
        auth_url = self.auth_url
        with open(self.log_path, "ab") as log:
            self._manage(
                log,
                timeout,
                ["db_sync"],
                ["fernet_setup", *owner],
                ["receipt_setup", *owner],
                ["credential_setup", *owner],
            )
            bind = self.endpoint.removeprefix("http://")
            command = [os.path.join(VENV, "bin", "gunicorn"), "--bind", bind]
            command += ["--workers", "1", "--threads", "4", "--worker-class", "gthread"]
            command += ["--no-control-socket", "--chdir", self.directory]
            env = {**os.environ, "OS_KEYSTONE_CONFIG_DIR": self.directory}
            try:
                self._process = subprocess.Popen(
                    [*command, f"{WSGI_MODULE}:application"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            except OSError as err:
                self._fail(f"gunicorn could not start: {err}")
            # While gunicorn boots: the admin, the roles and the identity endpoints.
            self._manage(log, timeout, [
                "bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
                "--bootstrap-region-id", REGION,
                "--bootstrap-admin-url", auth_url,
                "--bootstrap-public-url", auth_url,
                "--bootstrap-internal-url", auth_url,
            ])  # fmt: skip
        self._wait_until_serving(timeout)
        return self.auth_url

    def _wait_until_serving(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._fail(f"gunicorn exited with {self._process.returncode}")
            if service_process.answers(self.auth_url):
                return
            time.sleep(0.1)
        self.stop()
        self._fail(f"Keystone did not answer within {timeout}s")

    def stop(self) -> None:
        service_process.stop(self._process)

    # -- the admin's calls: what `openstack project/user/role/service/endpoint create` do

    def session(self, user: str, password: str, project: str) -> ks_session.Session:
        """A session of ``user`` scoped to ``project`` (both in domain Default)."""
        auth = v3.Password(
            auth_url=self.auth_url,
            username=user,
            password=password,
            project_name=project,
            user_domain_name="Default",
            project_domain_name="Default",
        )
        return ks_session.Session(auth=auth)

    def admin_session(self) -> ks_session.Session:
        if self._admin is None:
            self._admin = self.session("admin", ADMIN_PASSWORD, "admin")
        return self._admin

    def _create(self, collection: str, body: dict[str, Any]) -> str:
        key = collection[:-1]
        response = self.admin_session().post(
            f"{self.auth_url}/{collection}", json={key: body}, raise_exc=False
        )
        if response.status_code != 201:
            raise AssertionError(f"POST /v3/{collection}: {response.status_code} {response.text}")
        created = str(response.json()[key]["id"])
        if "name" in body:
            self._ids[collection, body["name"]] = created
        return created

    def _find(self, collection: str, name: str) -> str:
        if (collection, name) not in self._ids:
            found = self.admin_session().get(f"{self.auth_url}/{collection}?name={name}").json()
            (item,) = found[collection]
            self._ids[collection, name] = str(item["id"])
        return self._ids[collection, name]

    def create_project(self, name: str) -> str:
        return self._create("projects", {"name": name, "domain_id": "default"})

    def create_user(self, name: str, password: str, project: str, roles: list[str]) -> str:
        """A user in domain Default with ``roles`` on ``project`` (its default project)."""
        project_id = self._find("projects", project)
        user_id = self._create(
            "users",
            {
                "name": name,
                "password": password,
                "domain_id": "default",
                "default_project_id": project_id,
            },
        )
        session = self.admin_session()
        for role in roles:
            role_id = self._find("roles", role)
            url = f"{self.auth_url}/projects/{project_id}/users/{user_id}/roles/{role_id}"
            session.put(url)
        return user_id

    def create_service(self, name: str, service_type: str, url: str) -> dict[str, str]:
        """The service and its public, internal and admin endpoints in REGION; returns
        the endpoints' ids by interface."""
        service_id = self._create("services", {"name": name, "type": service_type})
        endpoints = {}
        for interface in ("public", "internal", "admin"):
            endpoint = {"service_id": service_id, "interface": interface, "url": url}
            endpoints[interface] = self._create("endpoints", {**endpoint, "region_id": REGION})
        self.admin_session().invalidate()  # its token's catalog lacks the new service
        return endpoints

    def grant_system_role(self, user_id: str, role: str) -> None:
        """``role`` on the system scope (``openstack role add --system all``)."""
        url = f"{self.auth_url}/system/users/{user_id}/roles/{self._find('roles', role)}"
        self.admin_session().put(url)

    def _create_limits(self, collection: str, body: dict[str, Any]) -> None:
        response = self.admin_session().post(
            f"{self.auth_url}/{collection}", json={collection: [body]}, raise_exc=False
        )
        if response.status_code != 201:
            raise AssertionError(f"POST /v3/{collection}: {response.status_code} {response.text}")

    def create_registered_limit(self, service: str, resource: str, default: int) -> None:
        """The default limit of ``resource`` of ``service`` in REGION, for every project."""
        limit = {"service_id": self._find("services", service), "region_id": REGION}
        self._create_limits(
            "registered_limits", {**limit, "resource_name": resource, "default_limit": default}
        )

    def create_limit(self, service: str, project_id: str, resource: str, limit: int) -> None:
        """``project_id``'s own limit of ``resource`` of ``service`` in REGION."""
        body = {"service_id": self._find("services", service), "region_id": REGION}
        body.update(project_id=project_id, resource_name=resource)
        self._create_limits("limits", {**body, "resource_limit": limit})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running(directory: str) -> Iterator[KeystoneService]:
    service = KeystoneService(directory)
    try:
        service.start()
        yield service
    finally:
        service.stop()
