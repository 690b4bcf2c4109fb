"""The real Placement service, and Cyborg's client and sync pointed at it.

One Placement (gunicorn, SQLite) per test session and xdist worker; tests keep out of
each other's way by using hosts (compute node providers) of their own. These tests run
on one database backend: SQLite when it is selected, else the first selected one
(``CYBORG_TEST_BACKENDS=mysql`` runs them on MariaDB).
"""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from oslo_config import cfg

import cyborg.conf
from cyborg.clients import placement as placement_client
from cyborg.common import inventory
from cyborg.conductor.inventory import reports
from cyborg.conductor.placement import claiming, provider_sync
from cyborg.drivers import fake
from tests import db_backends
from tests.placement_service import ADMIN_TOKEN, PlacementService, PlacementUnavailable


def _one_backend() -> list[str]:
    selected = db_backends.selected_backends()
    return ["sqlite"] if "sqlite" in selected else selected[:1]


@pytest.hookimpl(tryfirst=True)  # before the fixture's own params are applied
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Narrow the root db_backend fixture's params instead of overriding the fixture: a
    # second session-scoped db_backend would leave the root's db_engine cached on the
    # wrong database for the tests that run after these on the same worker.
    if "db_backend" in metafunc.fixturenames:
        # As a mark: pytest then leaves out the fixture's own params.
        metafunc.definition.add_marker(
            pytest.mark.parametrize("db_backend", _one_backend(), indirect=True, scope="session")
        )


@pytest.fixture(scope="session")
def placement_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlacementService]:
    service = PlacementService(str(tmp_path_factory.mktemp("placement")))
    try:
        service.start()
    except PlacementUnavailable as err:
        pytest.fail(str(err), pytrace=False)
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def placement_endpoint(placement_service: PlacementService) -> str:
    return placement_service.endpoint


def make_conf(tmp_path: Any, endpoint: str, **placement: object) -> cfg.ConfigOpts:
    """A Cyborg ConfigOpts reaching ``endpoint`` as noauth2's administrator."""
    lines = [
        "[placement]",
        "auth_type = admin_token",
        f"token = {ADMIN_TOKEN}",
        f"endpoint_override = {endpoint}",
    ]
    lines += [f"{name} = {value}" for name, value in placement.items()]
    path = tmp_path / f"cyborg-{uuid.uuid4().hex[:6]}.conf"
    path.write_text("\n".join(lines) + "\n")
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf(["--config-file", str(path)], project="cyborg")
    return conf


class Recorder:
    """Counts the requests a client sends (wraps its keystoneauth adapter)."""

    def __init__(self, client: placement_client.PlacementClient) -> None:
        self.calls: list[tuple[str, str]] = []
        send = client.adapter.request

        def request(url: str, method: str, **kwargs: Any) -> Any:
            self.calls.append((method, url))
            return send(url, method, **kwargs)

        client.adapter.request = request  # type: ignore[method-assign]

    def take(self) -> list[tuple[str, str]]:
        calls, self.calls = self.calls, []
        return calls


@pytest.fixture
def conf(tmp_path: Any, placement_endpoint: str) -> cfg.ConfigOpts:
    return make_conf(tmp_path, placement_endpoint)


@pytest.fixture
def client(conf: cfg.ConfigOpts) -> placement_client.PlacementClient:
    """A client of its own, for the test's checks and the changes it makes by hand."""
    return placement_client.from_conf(conf)


@pytest.fixture
def sync(conf: cfg.ConfigOpts) -> provider_sync.PlacementSync:
    syncer = provider_sync.PlacementSync.from_conf(conf)
    assert syncer is not None
    return syncer


@pytest.fixture
def recorder(sync: provider_sync.PlacementSync) -> Recorder:
    return Recorder(sync.client)


@pytest.fixture
def hostname() -> str:
    return f"compute-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def compute_node(client: placement_client.PlacementClient, hostname: str) -> str:
    """The host's compute node provider, as nova-compute creates it (a random uuid)."""
    return client.create_provider(str(uuid.uuid4()), hostname).uuid


@pytest.fixture
def claimer(client: placement_client.PlacementClient) -> claiming.Claimer:
    """Claims for binds without Nova (cyborg.conductor.binding.standalone)."""
    return claiming.Claimer(client)


@pytest.fixture
def host(
    db: Any,
    conf: cfg.ConfigOpts,
    sync: provider_sync.PlacementSync,
    hostname: str,
    compute_node: str,
) -> str:
    """A compute node with the fake driver's devices stored and published: a 16-unit
    FPGA board (trait CUSTOM_FAKE_DEVICE) and two whole GPUs (CUSTOM_FAKE_GPU)."""
    devices = fake.default_inventory(hostname)
    reports.report_inventory(
        conf,
        db.context,
        hostname,
        inventory.fingerprint(devices),
        inventory.to_primitive(devices),
        sync,
    )
    return hostname
