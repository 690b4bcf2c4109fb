"""The SPDK drivers against a real unix-socket JSON-RPC server replaying recorded responses."""

import contextlib
import json
import pathlib
import shutil
import socketserver
import tempfile
import threading
from collections.abc import Iterator

import pytest
import stevedore.driver
from oslo_config import cfg

import cyborg.conf
from cyborg.drivers import spdk
from cyborg.drivers.base import DeployableReport, DeviceReport

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "spdk"
SUBSYSTEMS = (FIXTURES / "nvmf_get_subsystems.json").read_bytes()
BDEVS = (FIXTURES / "bdev_get_bdevs.json").read_bytes()
CONTROLLERS = (FIXTURES / "vhost_get_controllers.json").read_bytes()
NOT_FOUND = (FIXTURES / "error_method_not_found.json").read_bytes()
RECORDED = {
    "nvmf_get_subsystems": SUBSYSTEMS,
    "bdev_get_bdevs": BDEVS,
    "vhost_get_controllers": CONTROLLERS,
}


class _Handler(socketserver.BaseRequestHandler):
    """Reads JSON-RPC requests and answers each with the recorded bytes for its method."""

    server: "FakeSPDK"

    def handle(self) -> None:
        decoder = json.JSONDecoder()
        buffer = ""
        while True:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            buffer += chunk.decode()
            try:
                request, end = decoder.raw_decode(buffer)
            except ValueError:
                continue
            buffer = buffer[end:].lstrip()
            self.server.methods.append(request["method"])
            reply = self.server.responses.get(request["method"], NOT_FOUND)
            for start in range(0, len(reply), 100):  # in pieces, as a real socket may
                self.request.sendall(reply[start : start + 100])
            if self.server.close_after_reply:
                return


class FakeSPDK(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, responses: dict[str, bytes], close_after_reply: bool) -> None:
        self.responses = responses
        self.close_after_reply = close_after_reply
        self.methods: list[str] = []
        super().__init__(path, _Handler)


@pytest.fixture
def root() -> Iterator[pathlib.Path]:
    # Short, so that <root>/var/tmp/spdk.sock fits in a unix socket address (108 bytes).
    path = pathlib.Path(tempfile.mkdtemp(prefix="cy-spdk-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def serving(
    root: pathlib.Path,
    responses: dict[str, bytes] | None = None,
    close_after_reply: bool = False,
) -> Iterator[FakeSPDK]:
    (root / "var" / "tmp").mkdir(parents=True, exist_ok=True)
    server = FakeSPDK(
        str(root / spdk.DEFAULT_SOCKET),
        RECORDED if responses is None else responses,
        close_after_reply,
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _device(name: str, model: str, identity: str, rc: str, attrs: tuple) -> DeviceReport:
    return DeviceReport(
        type="SSD",
        vendor="SPDK",
        model=model,
        controlpath=identity,
        deployables=(
            DeployableReport(
                name=f"node1_{name}",
                num_accelerators=1,
                resource_class=rc,
                driver_name="spdk",
                attributes=attrs,
            ),
        ),
    )


def test_nvmf_reports_each_subsystem_but_discovery(root: pathlib.Path) -> None:
    with serving(root) as server:
        devices = spdk.NVMfSPDKDriver(None, root=str(root), hostname="node1").discover()
    assert devices == [
        _device(
            "nqn.2016-06.io.spdk:cnode1",
            "SPDK bdev Controller",
            '{"nqn": "nqn.2016-06.io.spdk:cnode1", "type": "NVMF"}',
            "CUSTOM_NVME_OF",
            (("capacity_gb", "1788"), ("transport", "TCP")),
        ),
        _device(
            "nqn.2016-06.io.spdk:cnode2",
            "SPDK bdev Controller",
            '{"nqn": "nqn.2016-06.io.spdk:cnode2", "type": "NVMF"}',
            "CUSTOM_NVME_OF",
            (("capacity_gb", "101"), ("transport", "RDMA,TCP")),
        ),
    ]
    assert server.methods == ["nvmf_get_subsystems", "bdev_get_bdevs"]


def test_vhost_reports_each_controller(root: pathlib.Path) -> None:
    with serving(root, close_after_reply=True):
        devices = spdk.VhostSPDKDriver(None, root=str(root), hostname="node1").discover()
    assert devices == [
        _device(
            "vhost.blk0",
            "Malloc disk",
            '{"ctrlr": "vhost.blk0", "type": "VHOST"}',
            "CUSTOM_VHOST_BLK",
            (("capacity_gb", "4"), ("transport", "vhost_user_blk")),
        ),
        _device(
            "vhost.scsi0",
            "Malloc disk",
            '{"ctrlr": "vhost.scsi0", "type": "VHOST"}',
            "CUSTOM_VHOST_SCSI",
            (("capacity_gb", "2"), ("transport", "vhost_user_scsi")),
        ),
        # Its bdev was hot-removed: still a controller, of no known size.
        _device(
            "vhost.blk1",
            "vhost controller",
            '{"ctrlr": "vhost.blk1", "type": "VHOST"}',
            "CUSTOM_VHOST_BLK",
            (("transport", "vhost_user_blk"),),
        ),
    ]
    assert all(d.deployables[0].attach_handles == () for d in devices)


def test_socket_path_is_a_parameter(root: pathlib.Path) -> None:
    with serving(root):
        moved = root / "elsewhere.sock"
        (root / spdk.DEFAULT_SOCKET).rename(moved)
        driver = spdk.NVMfSPDKDriver(None, root="/nonexistent", socket_path=str(moved))
        assert len(driver.discover()) == 2


@pytest.mark.parametrize("cls", [spdk.NVMfSPDKDriver, spdk.VhostSPDKDriver])
def test_no_spdk_is_no_devices(cls: type[spdk._SPDKDriver], root: pathlib.Path) -> None:
    # No socket: SPDK does not run on this host.
    assert cls(None, root=str(root)).discover() == []


@pytest.mark.parametrize(
    "responses",
    [
        {},  # every method answered "Method not found" (an older SPDK, or vhost not built)
        {"nvmf_get_subsystems": b'{"jsonrpc": "2.0", "id": 1, "result": [{"nqn": '},
        {"nvmf_get_subsystems": b"<html>not json</html>"},
        {"nvmf_get_subsystems": b'["not", "an", "object"]'},
    ],
    ids=["error", "truncated", "garbage", "not-an-object"],
)
def test_a_failing_spdk_raises_so_the_agent_skips_the_cycle(
    responses: dict[str, bytes], root: pathlib.Path
) -> None:
    # [] would tell the conductor every SPDK device is gone; an error keeps them.
    with serving(root, {"bdev_get_bdevs": BDEVS, **responses}, close_after_reply=True):
        driver = spdk.NVMfSPDKDriver(None, root=str(root), timeout=0.5)
        with pytest.raises(spdk.SPDKError, match="nvmf_get_subsystems"):
            driver.discover()


def test_a_silent_spdk_times_out(root: pathlib.Path) -> None:
    # Half a response and the connection kept open: the client gives up at its timeout.
    half = {"nvmf_get_subsystems": SUBSYSTEMS[:50]}
    with serving(root, half), pytest.raises(spdk.SPDKError, match="timed out"):
        spdk.NVMfSPDKDriver(None, root=str(root), timeout=0.2).discover()


def test_unexpected_shapes_are_skipped(root: pathlib.Path) -> None:
    odd = {
        "nvmf_get_subsystems": json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "result": [1, "x", {"nqn": 5}, {"subtype": "NVMe"}, {"nqn": "nqn.x:bare"}],
            }
        ).encode(),
        "bdev_get_bdevs": b'{"jsonrpc": "2.0", "id": 1, "result": {"unexpected": true}}',
        "vhost_get_controllers": json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "result": [
                    {"ctrlr": "nvme0", "backend_specific": {"namespaces": []}},
                    {"ctrlr": "scsi-empty", "backend_specific": {"scsi": []}},
                    {"backend_specific": {"block": {"bdev": "Malloc0"}}},
                ],
            }
        ).encode(),
    }
    with serving(root, odd):
        nvmf = spdk.NVMfSPDKDriver(None, root=str(root), hostname="node1").discover()
        vhost = spdk.VhostSPDKDriver(None, root=str(root), hostname="node1").discover()
    assert nvmf == [
        _device(
            "nqn.x:bare",
            "NVMe-oF subsystem",
            '{"nqn": "nqn.x:bare", "type": "NVMF"}',
            "CUSTOM_NVME_OF",
            (),
        )
    ]
    assert vhost == [
        _device(
            "scsi-empty",
            "vhost controller",
            '{"ctrlr": "scsi-empty", "type": "VHOST"}',
            "CUSTOM_VHOST_SCSI",
            (("transport", "vhost_user_scsi"),),
        )
    ]


@pytest.mark.parametrize("name", ["nvmf_spdk_driver", "vhost_spdk_driver"])
def test_loads_through_stevedore(name: str, root: pathlib.Path) -> None:
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    manager = stevedore.driver.DriverManager(
        "cyborg.accelerator.driver",
        name,
        invoke_on_load=True,
        invoke_args=(conf,),
        invoke_kwds={"root": str(root), "hostname": "node1"},
    )
    assert manager.driver.name == name
    assert manager.driver.socket_path == str(root / "var" / "tmp" / "spdk.sock")
    with serving(root):
        assert len(manager.driver.discover()) in (2, 3)
