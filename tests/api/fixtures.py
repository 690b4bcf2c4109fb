"""gabbi fixtures: the real API in-process on a real (SQLite) database and conductor.

The conductor runs as an oslo.messaging RPC server on the in-process ``fake://``
transport; the API reaches it through the same ConductorAPI client it uses in
production. Identity comes from no-auth headers, so stories act as personas.
"""

import dataclasses
import datetime
import os
import socket
import tempfile
import uuid
from typing import Any

import oslo_messaging
import sqlalchemy as sa
from gabbi import fixture
from oslo_config import cfg
from oslo_db.sqlalchemy import enginefacade, orm
from oslo_middleware import http_proxy_to_wsgi

import cyborg.conf
from cyborg.api import app as api_app
from cyborg.common import concurrency, inventory
from cyborg.common import context as cyborg_context
from cyborg.conductor import server as conductor_server
from cyborg.conductor.binding import device_profiles
from cyborg.conductor.inventory import reports
from cyborg.conductor.placement import provider_sync
from cyborg.conf import opts
from cyborg.db import api as db_api
from cyborg.db import migration, models
from cyborg.drivers import fake
from cyborg.objects.host_inventory import provider_uuid
from tests import db_backends, placement_service
from tests.db import seed

concurrency.use_threading()

# The resource provider of the first seeded deployable; stories bind to it.
DEVICE_RP = "11111111-0000-4000-8000-000000000001"
HOLDER_INSTANCE = "0d4d6c3e-6a2b-4e59-9c41-2f1f0a6e7b55"  # HoldersAPIFixture's VM
HOLDER_CLAIM = "4a3b2c1d-0e9f-4a8b-9c7d-6e5f4a3b2c1d"  # and its pod's ResourceClaim
os.environ["GABBI_DEVICE_RP"] = DEVICE_RP

# Set by APIFixture.start_fixture, read by setup_app (gabbi's intercept).
CONF: cfg.ConfigOpts | None = None


_APPS: dict[int, Any] = {}


def _current_app() -> Any:
    assert CONF is not None, "APIFixture must be listed in the story's fixtures"
    if id(CONF) not in _APPS:
        _APPS.clear()
        _APPS[id(CONF)] = api_app.build(CONF)
    return _APPS[id(CONF)]


def setup_app() -> Any:
    """gabbi's intercept: called before the fixture starts, so the app is built lazily.

    A story plays a client on another host with the header ``x-test-remote-addr``: it
    becomes ``REMOTE_ADDR``, the socket peer a WSGI server reports (127.0.0.1 without).
    """

    def application(environ: dict[str, Any], start_response: Any) -> Any:
        if "HTTP_X_TEST_REMOTE_ADDR" in environ:
            environ["REMOTE_ADDR"] = environ.pop("HTTP_X_TEST_REMOTE_ADDR")
        return _current_app()(environ, start_response)

    return application


class APIFixture(fixture.GabbiFixture):
    """Empty database, conductor on fake://, API in no-auth mode."""

    backend = "sqlite"  # the fuzz test runs it on MariaDB and PostgreSQL too

    def start_fixture(self) -> None:
        global CONF

        self.tmp = tempfile.TemporaryDirectory()
        self.url = url = db_backends.create_database(self.backend, self.tmp.name)
        self.engine = db_backends.make_engine(url)
        migration.upgrade(self.engine)
        maker = orm.get_maker(engine=self.engine, expire_on_commit=False)
        factory = enginefacade._TestTransactionFactory(self.engine, maker, apply_global=False)
        self.reset_db = db_api.context_manager.patch_factory(factory)

        conf = cfg.ConfigOpts()
        cyborg.conf.register_opts(conf)
        opts.set_lib_defaults(conf)
        conf(self.config_args(), project="cyborg")
        conf.set_override("auth_strategy", "noauth")
        conf.register_opts(http_proxy_to_wsgi.OPTS, group="oslo_middleware")
        conf.set_override("enable_proxy_headers_parsing", True, "oslo_middleware")
        oslo_messaging.TransportURL.parse(conf)  # registers [DEFAULT] transport_url
        conf.set_override("transport_url", f"fake:///{uuid.uuid4().hex}")
        conf.set_override("host", "gabbi-conductor")
        conf.set_override("policy_file", os.path.join(self.tmp.name, "none.yaml"), "oslo_policy")
        CONF = conf
        self.app = api_app.build(conf)
        self.conf = conf
        self.server = conductor_server.start(conf, background=False)
        self.seed()

    def config_args(self) -> list[str]:
        """Command-line arguments of the services' configuration (none: defaults)."""
        return []

    def seed(self) -> None:
        """Two hosts with GPUs; the first device's deployable has a known RP uuid."""
        seed.devices(self.engine, 8, hosts=2)
        with self.engine.begin() as connection:
            connection.exec_driver_sql(
                f"UPDATE deployables SET rp_uuid = '{DEVICE_RP}' WHERE id = 1"
            )

    def stop_fixture(self) -> None:
        global CONF
        conductor_server.stop(self.conf, self.server)
        self.reset_db()
        self.engine.dispose()
        db_backends.drop_database(self.url)
        self.tmp.cleanup()
        CONF = None


class HoldersAPIFixture(APIFixture):
    """APIFixture with deployable 1 held by a VM (a bound ARQ of instance
    HOLDER_INSTANCE) and deployable 2 by a pod's ResourceClaim (HOLDER_CLAIM, ml/trainer)."""

    def seed(self) -> None:
        super().seed()
        seed.bound_arqs(self.engine, 1)
        with self.engine.begin() as connection:
            connection.execute(
                sa.update(models.ExtendedAcceleratorRequest).values(instance_uuid=HOLDER_INSTANCE)
            )
            connection.execute(
                sa.insert(models.PodDeviceClaim),
                [
                    {
                        "claim_uid": HOLDER_CLAIM,
                        "namespace": "ml",
                        "name": "trainer",
                        "hostname": "host0",
                        "attach_handle_id": 2,
                        "created_at": datetime.datetime(2026, 12, 3),
                    }
                ],
            )
            connection.execute(
                sa.update(models.AttachHandle)
                .where(models.AttachHandle.id.in_([1, 2]))
                .values(in_use=True)
            )


class StandaloneAPIFixture(APIFixture):
    """APIFixture plus a real Placement (tests.placement_service), the fake driver's
    devices of host ``sa-host`` stored and published to it, and ``[quota] limits =
    FPGA:2``: binds without Nova. Sets GABBI_PLACEMENT (its endpoint; token ``admin``)
    and GABBI_SA_BOARD_RP (the FPGA board's provider)."""

    HOST = "sa-host"

    def start_fixture(self) -> None:
        self.placement_dir = tempfile.TemporaryDirectory()
        self.placement = placement_service.PlacementService(self.placement_dir.name)
        self.placement.start()
        os.environ["GABBI_PLACEMENT"] = self.placement.endpoint
        os.environ["GABBI_SA_BOARD_RP"] = provider_uuid(f"{fake.safe_name(self.HOST)}_FakeDevice")
        super().start_fixture()

    def config_args(self) -> list[str]:
        path = os.path.join(self.placement_dir.name, "cyborg.conf")
        with open(path, "w") as conf:
            conf.write(
                "[placement]\nauth_type = admin_token\n"
                f"token = {placement_service.ADMIN_TOKEN}\n"
                f"endpoint_override = {self.placement.endpoint}\n"
                "create_compute_node_provider = true\n"
                "[quota]\nlimits = FPGA:2\n"
            )
        return ["--config-file", path]

    def seed(self) -> None:
        super().seed()
        devices = fake.default_inventory(self.HOST)
        reports.report_inventory(
            self.conf,
            cyborg_context.get_admin_context(),
            self.HOST,
            inventory.fingerprint(devices),
            inventory.to_primitive(devices),
            provider_sync.PlacementSync.from_conf(self.conf),
        )

    def stop_fixture(self) -> None:
        try:
            super().stop_fixture()
        finally:
            self.placement.stop()
            self.placement_dir.cleanup()


class SchedulerAPIFixture(StandaloneAPIFixture):
    """StandaloneAPIFixture whose GPUs on ``sa-host`` tell the scheduler their model
    (attribute ``model``, a catalog key), and a device profile ``one-gpu`` to plan and
    claim with. The seeded GPUs of the other hosts are not in Placement: plans skip them."""

    def seed(self) -> None:
        super().seed()
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        with self.engine.begin() as connection:
            gpus = connection.execute(
                sa.select(models.Deployable.id).where(
                    models.Deployable.name.like(f"{fake.safe_name(self.HOST)}_FakeGPU%")
                )
            ).scalars()
            connection.execute(
                sa.insert(models.Attribute),
                [
                    {
                        "uuid": str(uuid.uuid4()),
                        "deployable_id": gpu,
                        "key": "model",
                        "value": "A100-SXM4-80GB",
                        "created_at": now,
                    }
                    for gpu in gpus
                ],
            )
        device_profiles.create_device_profile(
            cyborg_context.get_admin_context(),
            name="one-gpu",
            groups=[{"resources:PGPU": "1", "trait:CUSTOM_FAKE_GPU": "required"}],
        )


class LimitsAPIFixture(APIFixture):
    """APIFixture with small limits on what one request may ask for: ``[api]
    max_units_per_group = 4``, ``max_arqs_per_request = 6``, ``[quota]
    accelerator_requests = 8``; and a profile ``legacy-million``, stored as if before
    the limits, that asks for 999,999 units of 8 classes in each of 8 groups."""

    def config_args(self) -> list[str]:
        path = os.path.join(self.tmp.name, "limits.conf")
        with open(path, "w") as conf:
            conf.write(
                "[api]\nmax_units_per_group = 4\nmax_arqs_per_request = 6\n"
                "[quota]\naccelerator_requests = 8\n"
            )
        return ["--config-file", path]

    def seed(self) -> None:
        super().seed()
        classes = ["PGPU", "FPGA", "VGPU", *(f"CUSTOM_C{n}" for n in range(5))]
        device_profiles.create_device_profile(
            cyborg_context.get_admin_context(),
            name="legacy-million",
            groups=[{f"resources:{rc}": "999999" for rc in classes}] * 8,
        )


class JobsAPIFixture(APIFixture):
    """APIFixture with ``[quota] queued_jobs = 3``: a project's fourth queued job is 403."""

    def config_args(self) -> list[str]:
        path = os.path.join(self.tmp.name, "jobs.conf")
        with open(path, "w") as conf:
            conf.write("[quota]\nqueued_jobs = 3\n")
        return ["--config-file", path]


class KeystoneAPIFixture(APIFixture):
    """APIFixture with ``auth_strategy = keystone`` and no Keystone behind it: requests
    without a valid token never get past keystonemiddleware."""

    WWW_AUTHENTICATE_URI = "https://keystone.example.com/identity"

    def start_fixture(self) -> None:
        super().start_fixture()
        self.conf.set_override("auth_strategy", "keystone")
        api_app.build(self.conf)  # registers [keystone_authtoken]
        self.conf.set_override(
            "www_authenticate_uri", self.WWW_AUTHENTICATE_URI, "keystone_authtoken"
        )
        self.app = api_app.build(self.conf)


class BodyLimitAPIFixture(APIFixture):
    """APIFixture with ``[api] max_request_body_size`` at BODY_LIMIT bytes; sets
    GABBI_LONG_TEXT, a text of 3000 characters that takes a body past it."""

    BODY_LIMIT = 2048

    def config_args(self) -> list[str]:
        os.environ["GABBI_LONG_TEXT"] = "x" * 3000
        path = os.path.join(self.tmp.name, "limits.conf")
        with open(path, "w") as conf:
            conf.write(f"[api]\nmax_request_body_size = {self.BODY_LIMIT}\n")
        return ["--config-file", path]


class DatabaseDownAPIFixture(APIFixture):
    """APIFixture whose database goes away once seeded: the pool is emptied and a
    directory takes the SQLite file's place, so every connection the API (or the
    conductor) opens fails, as it does when a database server is down."""

    def start_fixture(self) -> None:
        super().start_fixture()
        self.path = str(sa.engine.make_url(self.url).database)
        self.engine.dispose()
        os.rename(self.path, self.path + ".away")
        os.mkdir(self.path)

    def stop_fixture(self) -> None:
        os.rmdir(self.path)
        os.rename(self.path + ".away", self.path)
        super().stop_fixture()


class RemoteNoAuthAPIFixture(APIFixture):
    """APIFixture with ``[api] noauth_allow_remote = true``."""

    def config_args(self) -> list[str]:
        path = os.path.join(self.tmp.name, "remote.conf")
        with open(path, "w") as conf:
            conf.write("[api]\nnoauth_allow_remote = true\n")
        return ["--config-file", path]


class BrokerDownAPIFixture(APIFixture):
    """APIFixture whose RPC transport is RabbitMQ on a closed loopback port: no broker
    accepts a login (the in-process conductor stays on its fake:// transport)."""

    def start_fixture(self) -> None:
        super().start_fixture()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            closed = sock.getsockname()[1]
        self.conf.set_override("transport_url", f"rabbit://guest:guest@127.0.0.1:{closed}/")


class HealthAPIFixture(APIFixture):
    """An agent's report (the fake driver's default host) in which FakeGPU0's driver
    says it fell off the bus: health shows through the attributes the API lists."""

    def seed(self) -> None:
        board, gpu0, gpu1 = fake.default_inventory("health-host")
        (deployable,) = gpu0.deployables
        sick = dataclasses.replace(
            deployable,
            attributes=tuple(
                sorted(
                    (
                        *deployable.attributes,
                        (inventory.ATTR_HEALTH, inventory.FATAL),
                        (inventory.ATTR_HEALTH_REASON, "XID 79: GPU has fallen off the bus"),
                    )
                )
            ),
        )
        devices = [board, dataclasses.replace(gpu0, deployables=(sick,)), gpu1]
        reports.report_inventory(
            self.conf,
            cyborg_context.get_admin_context(),
            "health-host",
            inventory.fingerprint(devices),
            inventory.to_primitive(devices),
        )


class TopologyAPIFixture(APIFixture):
    """The real NVIDIA driver's report of the recorded DGX A100 (eight NVLinked GPUs):
    its topology shows through the attributes the API lists."""

    HOST = "dgx-host"

    def seed(self) -> None:
        from cyborg.drivers import nvidia_gpu

        root = os.path.join(
            os.path.dirname(__file__), "..", "fixtures", "hosts", "nvidia-dgx-a100"
        )
        driver = nvidia_gpu.NvidiaGPUDriver(self.conf, root=root, hostname=self.HOST)
        devices = driver.discover()
        reports.report_inventory(
            self.conf,
            cyborg_context.get_admin_context(),
            self.HOST,
            inventory.fingerprint(devices),
            inventory.to_primitive(devices),
        )
