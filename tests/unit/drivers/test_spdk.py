"""The SPDK drivers against a real unix-socket JSON-RPC server replaying recorded responses."""

import json
import pathlib
import shutil
import tempfile
from collections.abc import Iterator

import pytest
import stevedore.driver
from oslo_config import cfg

import cyborg.conf
from cyborg.drivers import spdk
from cyborg.drivers.base import AttachHandleReport, DeployableReport, DeviceReport
from tests.spdk_rpc import BDEVS, SUBSYSTEMS, serving


@pytest.fixture
def root() -> Iterator[pathlib.Path]:
    # Short, so that <root>/var/tmp/spdk.sock fits in a unix socket address (108 bytes).
    path = pathlib.Path(tempfile.mkdtemp(prefix="cy-spdk-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _nvmf(nqn: str, trtype: str, traddr: str = "192.168.100.8") -> tuple:
    info = {"adrfam": "IPv4", "subnqn": nqn, "traddr": traddr, "trsvcid": "4420"}
    return (AttachHandleReport("NVMF", json.dumps({**info, "trtype": trtype}, sort_keys=True)),)


def _vhost(ctrlr: str, transport: str) -> tuple:
    info = {"ctrlr": ctrlr, "socket": f"/var/tmp/{ctrlr}", "transport": transport}
    return (AttachHandleReport("VHOST_USER", json.dumps(info, sort_keys=True)),)


def _device(
    name: str, model: str, identity: str, rc: str, attrs: tuple, handles: tuple = ()
) -> DeviceReport:
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
                attach_handles=handles,
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
            _nvmf("nqn.2016-06.io.spdk:cnode1", "TCP"),
        ),
        _device(
            "nqn.2016-06.io.spdk:cnode2",
            "SPDK bdev Controller",
            '{"nqn": "nqn.2016-06.io.spdk:cnode2", "type": "NVMF"}',
            "CUSTOM_NVME_OF",
            (("capacity_gb", "101"), ("transport", "RDMA,TCP")),
            _nvmf("nqn.2016-06.io.spdk:cnode2", "RDMA"),  # SPDK's first listener
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
            _vhost("vhost.blk0", "vhost_user_blk"),
        ),
        _device(
            "vhost.scsi0",
            "Malloc disk",
            '{"ctrlr": "vhost.scsi0", "type": "VHOST"}',
            "CUSTOM_VHOST_SCSI",
            (("capacity_gb", "2"), ("transport", "vhost_user_scsi")),
            _vhost("vhost.scsi0", "vhost_user_scsi"),
        ),
        # Its bdev was hot-removed: still a controller, of no known size.
        _device(
            "vhost.blk1",
            "vhost controller",
            '{"ctrlr": "vhost.blk1", "type": "VHOST"}',
            "CUSTOM_VHOST_BLK",
            (("transport", "vhost_user_blk"),),
            _vhost("vhost.blk1", "vhost_user_blk"),
        ),
    ]


def test_socket_path_is_a_parameter(root: pathlib.Path) -> None:
    with serving(root):
        moved = root / "elsewhere.sock"
        (root / spdk.DEFAULT_SOCKET).rename(moved)
        driver = spdk.NVMfSPDKDriver(None, root="/nonexistent", socket_path=str(moved))
        assert len(driver.discover()) == 2


@pytest.mark.parametrize("cls", [spdk.NVMfSPDKDriver, spdk.VhostSPDKDriver])
def test_no_spdk_is_no_devices(cls: type[spdk.SPDKDriver], root: pathlib.Path) -> None:
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


def test_targets_without_an_address_or_too_long_have_no_handle(root: pathlib.Path) -> None:
    long_nqn = "nqn.2016-06.io.spdk:" + "x" * 200  # NQNs may be 223 bytes
    subsystems = {
        "jsonrpc": "2.0",
        "id": 1,
        "result": [
            {"nqn": "nqn.x:unlistened", "subtype": "NVMe", "listen_addresses": []},
            {
                "nqn": "nqn.x:partial",
                "subtype": "NVMe",
                "listen_addresses": [
                    {"trtype": "TCP", "adrfam": "IPv4", "traddr": "10.0.0.1"},  # no trsvcid
                    {"trtype": "TCP", "adrfam": "IPv6", "traddr": "fd00::1", "trsvcid": "4420"},
                ],
            },
            {
                "nqn": long_nqn,
                "subtype": "NVMe",
                "listen_addresses": [
                    {"trtype": "TCP", "adrfam": "IPv4", "traddr": "10.0.0.1", "trsvcid": "4420"}
                ],
            },
        ],
    }
    controllers = {
        "jsonrpc": "2.0",
        "id": 1,
        "result": [{"ctrlr": "old", "backend_specific": {"block": {"bdev": "Malloc1"}}}],
    }
    responses = {
        "nvmf_get_subsystems": json.dumps(subsystems).encode(),
        "vhost_get_controllers": json.dumps(controllers).encode(),
        "bdev_get_bdevs": BDEVS,
    }
    with serving(root, responses):
        nvmf = spdk.NVMfSPDKDriver(None, root=str(root), hostname="n").discover()
        vhost = spdk.VhostSPDKDriver(None, root=str(root), hostname="n").discover()
    handles = [d.deployables[0].attach_handles for d in nvmf + vhost]
    partial = {
        "adrfam": "IPv6",
        "subnqn": "nqn.x:partial",
        "traddr": "fd00::1",
        "trsvcid": "4420",
        "trtype": "TCP",
    }
    assert handles == [(), (AttachHandleReport("NVMF", json.dumps(partial)),), (), ()]
