"""The all-in-one's simulated host: the GBS header, the simulated PAC and its fpgaconf,
the embedded Image API over real HTTP, the agent's Programmer through all of them, and
GPUs the scheduler plans on."""

import contextlib
import hashlib
import pathlib
from collections.abc import Iterator
from typing import Any
from wsgiref import simple_server

import pytest
import requests
from oslo_config import cfg

import cyborg.conf
from cyborg.agent import programming
from cyborg.agent.drivers import FirstThatFinds
from cyborg.clients import glance
from cyborg.cmd import aio_fpga, aio_host
from cyborg.common import exception
from cyborg.common.context import RequestContext
from cyborg.conductor.plans import candidate_devices
from cyborg.drivers import gbs, simulated_pac
from cyborg.drivers.fake import FakeDriver
from cyborg.drivers.intel_fpga import FPGACONF
from cyborg.objects.schedulable import Schedulable
from cyborg.scheduler import catalog
from cyborg.wsgi import embedded_images
from tests import http_stub

NLB0, NLB3 = aio_fpga.BITSTREAMS
PF = {"domain": "0000", "bus": "5e", "device": "00", "function": "0"}


def _function_trait(bitstream: aio_fpga.Bitstream) -> str:
    return "CUSTOM_FPGA_FUNCTION_ID_INTEL_" + bitstream.afu_uuid.replace("-", "").upper()


@pytest.fixture
def card(tmp_path: pathlib.Path) -> simulated_pac.SimulatedPACDriver:
    root = str(tmp_path / "card")
    simulated_pac.build_tree(root, NLB0.afu_uuid)
    return simulated_pac.SimulatedPACDriver(None, root, "aio")


@contextlib.contextmanager
def _serving(app: Any) -> Iterator[str]:
    class Quiet(simple_server.WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = simple_server.make_server("127.0.0.1", 0, app, handler_class=Quiet)
    with http_stub.serving(server):
        yield f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def image_api() -> Iterator[str]:
    with _serving(embedded_images.application(aio_fpga.images())) as endpoint:
        yield endpoint


def test_gbs_header_round_trip_and_refusals() -> None:
    data = gbs.build(simulated_pac.INTERFACE_UUID, NLB3.afu_uuid, "nlb3", b"bits")
    assert data.startswith(b"XeonFPGA\xb7GBSv001")
    assert gbs.parse(data) == gbs.GBSHeader(simulated_pac.INTERFACE_UUID, NLB3.afu_uuid, "nlb3")
    with pytest.raises(gbs.InvalidGBS, match="no GBS GUID"):
        gbs.parse(b"\x7fELF" + data[4:])
    with pytest.raises(gbs.InvalidGBS, match="unreadable"):
        gbs.parse(gbs.GUID + b"\x05\x00\x00\x00{nope")


def test_the_intel_driver_reports_the_simulated_card(
    card: simulated_pac.SimulatedPACDriver,
) -> None:
    (device,) = card.discover()
    (deployable,) = device.deployables
    assert (device.type, device.model, deployable.driver_name) == (
        "FPGA",
        "Intel PAC Arria 10 GX",
        "intel",
    )
    assert _function_trait(NLB0) in deployable.traits
    assert dict(deployable.attributes)["function_id"] == NLB0.afu_uuid.replace("-", "").upper()
    assert "health" not in dict(deployable.attributes)  # healthy


def _image_file(tmp_path: pathlib.Path, interface: str, afu: str) -> str:
    path = tmp_path / "image.gbs"
    path.write_bytes(gbs.build(interface, afu, "x", b"payload"))
    return str(path)


def test_fpgaconf_refuses_what_the_card_cannot_load(
    card: simulated_pac.SimulatedPACDriver, tmp_path: pathlib.Path
) -> None:
    good = _image_file(tmp_path, simulated_pac.INTERFACE_UUID, NLB3.afu_uuid)
    other_slot = card.program_command({**PF, "bus": "5f"}, good)
    assert card.fpgaconf(other_slot, 10)["exit_code"] == 1
    assert card.fpgaconf(["/bin/sh", "-c", "true"], 10)["exit_code"] == 2
    other_fim = _image_file(tmp_path, "00000000-0000-4000-8000-000000000000", NLB3.afu_uuid)
    result = card.fpgaconf(card.program_command(PF, other_fim), 10)
    assert result["exit_code"] == 1 and "does not match the FIM" in result["stderr"]
    (tmp_path / "raw.bin").write_bytes(b"not a bitstream")
    result = card.fpgaconf(card.program_command(PF, str(tmp_path / "raw.bin")), 10)
    assert result["exit_code"] == 1 and "no GBS GUID" in result["stderr"]
    # Nothing was loaded.
    (deployable,) = card.discover()[0].deployables
    assert _function_trait(NLB0) in deployable.traits


def test_the_image_api_answers_as_glance(image_api: str) -> None:
    nlb0 = aio_fpga.images()[0]
    found = requests.get(
        f"{image_api}/v2/images",
        params={"accel:function_id": NLB3.afu_uuid, "status": "active"},
        timeout=10,
    ).json()["images"]
    assert [image["id"] for image in found] == [NLB3.image_uuid]
    metadata = requests.get(f"{image_api}/v2/images/{nlb0.id}", timeout=10).json()
    assert (metadata["size"], metadata["os_hash_value"]) == (
        len(nlb0.data),
        hashlib.sha512(nlb0.data).hexdigest(),
    )
    data = requests.get(f"{image_api}/v2/images/{nlb0.id}/file", timeout=10)
    assert data.content == nlb0.data and data.headers["Content-MD5"] == metadata["checksum"]
    assert requests.get(f"{image_api}/v2/images/{NLB3.afu_uuid}", timeout=10).status_code == 404
    assert requests.get(f"{image_api}/v2/other", timeout=10).status_code == 404
    assert requests.delete(f"{image_api}/v2/images/{nlb0.id}", timeout=10).status_code == 405
    # What the conductor asks at bind time, through the [glance] client.
    adapter = glance.adapter(_conf(image_api), RequestContext())
    assert glance.find_function_image(adapter, NLB3.afu_uuid) == NLB3.image_uuid
    assert glance.image_function_id(adapter, NLB0.image_uuid) == NLB0.afu_uuid


def _conf(endpoint: str) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([], default_config_files=[], default_config_dirs=[], use_env=False)
    aio_fpga.client_options(conf, endpoint)
    return conf


def _refuse(argv: list[str], timeout: int) -> dict[str, Any]:
    raise AssertionError(f"the privileged daemon was asked to run {argv}")


def test_programming_the_simulated_card_runs_its_own_fpgaconf(
    card: simulated_pac.SimulatedPACDriver, image_api: str
) -> None:
    # As the all-in-one wires it: the card is a fallback of the real drivers.
    drivers = [FirstThatFinds([], [FakeDriver(None, hostname="aio"), card])]
    programmer = programming.Programmer(_conf(image_api), drivers, "aio", run_tool=_refuse)
    assert programmer.program(RequestContext(), {"cpid_info": PF}, NLB3.image_uuid, "intel")
    (deployable,) = card.discover()[0].deployables
    assert _function_trait(NLB3) in deployable.traits
    assert _function_trait(NLB0) not in deployable.traits
    # Once a real driver finds hardware, the simulated card is not programmed.
    real = FakeDriver(None, hostname="aio")
    programmer.drivers = [FirstThatFinds([real], [card])]
    with pytest.raises(exception.FPGAProgramError, match="no enabled programmable driver"):
        programmer.program(RequestContext(), {"cpid_info": PF}, NLB0.image_uuid, "intel")


def test_the_tree_is_kept_across_restarts(tmp_path: pathlib.Path) -> None:
    root = str(tmp_path / "card")
    simulated_pac.build_tree(root, NLB0.afu_uuid)
    card = simulated_pac.SimulatedPACDriver(None, root, "aio")
    image = _image_file(tmp_path, simulated_pac.INTERFACE_UUID, NLB3.afu_uuid)
    assert card.fpgaconf([FPGACONF, *card.program_command(PF, image)[1:]], 10)["exit_code"] == 0
    simulated_pac.build_tree(root, NLB0.afu_uuid)  # the next start
    (deployable,) = card.discover()[0].deployables
    assert _function_trait(NLB3) in deployable.traits


def test_the_simulated_gpus_plan_with_catalog_figures_and_nvlink() -> None:
    reports = aio_host.gpus("aio.example")
    rows = [
        Schedulable(
            deployable_uuid=f"uuid-{d.name}",
            deployable_name=d.name,
            rp_uuid=None,
            hostname="aio.example",
            device_type=r.type,
            vendor=r.vendor,
            model=r.model,
            attributes={"rc": d.resource_class, **dict(d.attributes)},
        )
        for r in reports
        for d in r.deployables
    ]
    assert [row.deployable_name for row in rows] == ["aio_example_GPU0", "aio_example_GPU1"]
    candidates = candidate_devices.build(rows)
    assert candidates.skipped == {}
    first, second = candidates.devices.devices
    assert first.model == aio_host.GPU_MODEL in catalog.CATALOG
    assert [(k.peer, k.type) for k in first.links] == [(second.id, "nvlink")]


def test_a_configured_image_service_is_kept() -> None:
    assert _conf("http://127.0.0.1:1/image").glance.endpoint_override == (
        "http://127.0.0.1:1/image"
    )
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([], default_config_files=[], default_config_dirs=[], use_env=False)
    conf.set_override("endpoint_override", "http://glance.example:9292", "glance")
    aio_fpga.client_options(conf, "http://127.0.0.1:1/image")
    assert conf.glance.endpoint_override == "http://glance.example:9292"
