"""Targets made per bind (cyborg.drivers.spdk_exports) against a stand-in SPDK on a real
unix socket whose state changes as SPDK's does, answering with recorded responses."""

import json
import pathlib
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from oslo_config import cfg

import cyborg.conf
from cyborg.common import constants
from cyborg.drivers import spdk, spdk_exports
from tests.spdk_rpc import SUBSYSTEMS, TargetState, serving, serving_targets

NQN = "nqn.2016-06.io.spdk:cyborg-Malloc0"
LISTENER = {"trtype": "TCP", "adrfam": "IPv4", "traddr": "192.0.2.10", "trsvcid": "4420"}
NVMF = {"subnqn": NQN, "bdev": "Malloc0", **LISTENER}
VHOST = {
    "ctrlr": "cyborg-Malloc0",
    "socket": "/var/tmp/cyborg-Malloc0",
    "transport": "vhost_user_blk",
    "bdev": "Malloc0",
}


@pytest.fixture
def root() -> Iterator[pathlib.Path]:
    path = pathlib.Path(tempfile.mkdtemp(prefix="cy-spdk-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def state() -> TargetState:
    return TargetState()


@pytest.fixture
def exports(root: pathlib.Path, state: TargetState) -> Iterator[spdk_exports.Exports]:
    with serving_targets(root, state):
        yield spdk_exports.Exports(str(root / spdk.DEFAULT_SOCKET), timeout=5)


def _methods(state: TargetState) -> list[str]:
    methods = [method for method, _ in state.calls]
    state.calls.clear()
    return methods


def _bdev(state: TargetState, name: str) -> dict[str, Any]:
    return next(b for b in state.bdevs if b["name"] == name)


def test_an_nvmf_export_is_made_once_and_removed_once(
    exports: spdk_exports.Exports, state: TargetState
) -> None:
    exports.create("NVMF", NVMF)
    assert _methods(state) == [
        "nvmf_get_subsystems",
        "nvmf_get_transports",
        "nvmf_create_transport",
        "nvmf_create_subsystem",
        "nvmf_subsystem_add_ns",
        "nvmf_subsystem_add_listener",
    ]
    (made,) = [s for s in state.subsystems if s["nqn"] == NQN]
    assert [ns["bdev_name"] for ns in made["namespaces"]] == ["Malloc0"]
    assert made["listen_addresses"] == [LISTENER]
    assert made["allow_any_host"] is True and len(made["serial_number"]) <= 20
    assert _bdev(state, "Malloc0")["claimed"] is True

    exports.create("NVMF", NVMF)  # a repeated create (a resumed bind) changes nothing
    assert _methods(state) == ["nvmf_get_subsystems"]

    exports.remove("NVMF", NVMF)
    assert _methods(state) == ["nvmf_get_subsystems", "nvmf_delete_subsystem"]
    assert NQN not in {s["nqn"] for s in state.subsystems}
    assert _bdev(state, "Malloc0")["claimed"] is False
    exports.remove("NVMF", NVMF)  # gone already: nothing to delete
    assert _methods(state) == ["nvmf_get_subsystems"]


def test_an_existing_transport_is_not_created_again(
    exports: spdk_exports.Exports, state: TargetState
) -> None:
    state.transports.append({"trtype": "TCP"})
    exports.create("NVMF", {**NVMF, "trtype": "tcp", "adrfam": "ipv4"})
    assert "nvmf_create_transport" not in _methods(state)


def test_a_create_that_fails_part_way_leaves_no_subsystem(
    exports: spdk_exports.Exports, state: TargetState
) -> None:
    state.fail["nvmf_subsystem_add_listener"] = ["error_invalid_params"]
    with pytest.raises(spdk.SPDKError) as caught:
        exports.create("NVMF", NVMF)
    assert (caught.value.code, caught.value.message) == (-32602, "Invalid parameters")
    assert _methods(state)[-2:] == ["nvmf_subsystem_add_listener", "nvmf_delete_subsystem"]
    assert NQN not in {s["nqn"] for s in state.subsystems}
    assert _bdev(state, "Malloc0")["claimed"] is False


def test_a_bdev_another_subsystem_claims_fails_the_create_cleanly(
    exports: spdk_exports.Exports, state: TargetState
) -> None:
    with pytest.raises(spdk.SPDKError, match="nvmf_subsystem_add_ns"):
        exports.create("NVMF", {**NVMF, "bdev": "Nvme0n1"})  # cnode1's namespace
    assert NQN not in {s["nqn"] for s in state.subsystems}


def test_a_half_made_subsystem_is_made_again(
    exports: spdk_exports.Exports, state: TargetState
) -> None:
    # An earlier create stopped after its namespace (the agent died): no listener.
    state.transports.append({"trtype": "TCP"})
    state.answer("nvmf_create_subsystem", {"nqn": NQN})
    state.answer("nvmf_subsystem_add_ns", {"nqn": NQN, "namespace": {"bdev_name": "Malloc0"}})
    state.calls.clear()
    exports.create("NVMF", NVMF)
    assert _methods(state) == [
        "nvmf_get_subsystems",
        "nvmf_delete_subsystem",
        "nvmf_get_transports",
        "nvmf_create_subsystem",
        "nvmf_subsystem_add_ns",
        "nvmf_subsystem_add_listener",
    ]
    (made,) = [s for s in state.subsystems if s["nqn"] == NQN]
    assert made["listen_addresses"] == [LISTENER]


def test_a_vhost_export_is_made_once_and_removed_once(
    exports: spdk_exports.Exports, state: TargetState
) -> None:
    exports.create("VHOST_USER", VHOST)
    assert _methods(state) == ["vhost_get_controllers", "vhost_create_blk_controller"]
    (made,) = [c for c in state.controllers if c["ctrlr"] == "cyborg-Malloc0"]
    assert made["backend_specific"]["block"]["bdev"] == "Malloc0"
    exports.create("VHOST_USER", VHOST)
    assert _methods(state) == ["vhost_get_controllers"]
    exports.remove("VHOST_USER", VHOST)
    assert _methods(state) == ["vhost_get_controllers", "vhost_delete_controller"]
    assert _bdev(state, "Malloc0")["claimed"] is False
    exports.remove("VHOST_USER", VHOST)
    assert _methods(state) == ["vhost_get_controllers"]


def test_a_vhost_controller_over_another_bdev_is_made_again(
    exports: spdk_exports.Exports, state: TargetState
) -> None:
    state.answer("vhost_create_blk_controller", {"ctrlr": "cyborg-Malloc0", "dev_name": "Malloc0"})
    state.calls.clear()
    moved = {**VHOST, "bdev": "1b38702c-7f0c-411e-a962-92c6a5a8a602"}  # the lvol
    exports.create("VHOST_USER", moved)
    assert _methods(state) == [
        "vhost_get_controllers",
        "vhost_delete_controller",
        "vhost_create_blk_controller",
    ]


def test_a_vhost_create_spdk_refuses_raises_its_error(
    exports: spdk_exports.Exports, state: TargetState
) -> None:
    state.fail["vhost_create_blk_controller"] = ["error_file_exists"]
    with pytest.raises(spdk.SPDKError) as caught:
        exports.create("VHOST_USER", VHOST)
    assert (caught.value.code, caught.value.message) == (-32602, "File exists")
    with pytest.raises(spdk.SPDKError, match="No such device"):
        exports.create("VHOST_USER", {**VHOST, "bdev": "Malloc9"})


def test_the_operators_targets_are_checked_never_changed(
    exports: spdk_exports.Exports, state: TargetState
) -> None:
    cnode1 = {"subnqn": "nqn.2016-06.io.spdk:cnode1", **LISTENER}
    exports.create("NVMF", cnode1)
    exports.create("VHOST_USER", {"ctrlr": "vhost.blk0", "socket": "/var/tmp/vhost.blk0"})
    exports.remove("NVMF", cnode1)
    exports.remove("VHOST_USER", {"ctrlr": "vhost.blk0", "socket": "/var/tmp/vhost.blk0"})
    assert _methods(state) == ["nvmf_get_subsystems", "vhost_get_controllers"]
    with pytest.raises(spdk.SPDKError, match="is gone"):
        exports.create("NVMF", {**cnode1, "subnqn": "nqn.2016-06.io.spdk:cnode9"})
    with pytest.raises(spdk.SPDKError, match="not an SPDK target"):
        exports.create("PCI", cnode1)


def test_a_silent_spdk_fails_the_create_at_its_timeout(root: pathlib.Path) -> None:
    half = {"nvmf_get_subsystems": SUBSYSTEMS[:50]}
    with serving(root, half), pytest.raises(spdk.SPDKError, match="timed out"):
        spdk_exports.Exports(str(root / spdk.DEFAULT_SOCKET), timeout=0.2).create("NVMF", NVMF)


def _conf(**agent: Any) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([])
    for key, value in agent.items():
        conf.set_override(key, value, group="agent")
    return conf


def test_exported_bdevs_are_devices_before_and_after_their_bind(
    root: pathlib.Path, state: TargetState
) -> None:
    conf = _conf(
        spdk_nvmf_export_bdevs=["Malloc0", "Missing"],
        spdk_nvmf_listen_address=LISTENER,
        spdk_vhost_export_bdevs=["lvs/vol"],
    )
    state.bdevs.append({**_bdev(state, "Malloc0"), "name": "lvs/vol", "claimed": False})
    with serving_targets(root, state):
        nvmf = spdk.NVMfSPDKDriver(conf, root=str(root), hostname="n1")
        vhost = spdk.VhostSPDKDriver(conf, root=str(root), hostname="n1")
        before = nvmf.discover() + vhost.discover()
        exports = spdk_exports.Exports(nvmf.socket_path)
        for device in before:
            for handle in device.deployables[0].attach_handles:
                info = json.loads(handle.attach_info)
                if "bdev" in info:
                    exports.create(handle.attach_type, info)
        after = nvmf.discover() + vhost.discover()
    assert after == before  # the made targets are not devices; their bdevs still are
    made = {d.controlpath: d.deployables[0] for d in before if "bdev" in d.controlpath}
    assert sorted(made) == [
        '{"bdev": "Malloc0", "type": "NVMF"}',
        '{"bdev": "lvs/vol", "type": "VHOST"}',
    ]
    nvmf_export = made['{"bdev": "Malloc0", "type": "NVMF"}']
    assert (nvmf_export.name, nvmf_export.resource_class) == ("n1_nvmf_Malloc0", "CUSTOM_NVME_OF")
    (handle,) = nvmf_export.attach_handles
    assert (handle.attach_type, json.loads(handle.attach_info)) == ("NVMF", NVMF)
    (handle,) = made['{"bdev": "lvs/vol", "type": "VHOST"}'].attach_handles
    assert json.loads(handle.attach_info) == {
        "bdev": "lvs/vol",
        "ctrlr": "cyborg-lvs-vol",
        "socket": "/var/tmp/cyborg-lvs-vol",
        "transport": "vhost_user_blk",
    }
    assert {s["nqn"] for s in state.subsystems} >= {NQN}
    assert "cyborg-lvs-vol" in {c["ctrlr"] for c in state.controllers}


def test_every_spdk_resource_class_binds_through_the_agent(root: pathlib.Path) -> None:
    """The classes the drivers report are those whose binds wait on the agent."""
    conf = _conf(spdk_nvmf_export_bdevs=["Malloc0"], spdk_vhost_export_bdevs=["Malloc0"])
    with serving(root):
        devices = [
            *spdk.NVMfSPDKDriver(conf, root=str(root)).discover(),
            *spdk.VhostSPDKDriver(conf, root=str(root)).discover(),
        ]
    reported = {d.deployables[0].resource_class for d in devices}
    assert reported == constants.SPDK_RESOURCE_CLASSES
    types = {h.attach_type for d in devices for h in d.deployables[0].attach_handles}
    assert types == constants.SPDK_TARGET_TYPES <= constants.AGENT_MADE_TYPES
