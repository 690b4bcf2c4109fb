"""The conductor's program flow on every backend, with a stand-in for the agent's RPC.

The agent side is tested on its own (tests/unit/test_programming.py) and with real
processes over RabbitMQ (tests/functional/test_fpga_program.py).
"""

from typing import Any

import oslo_messaging
import pytest

from cyborg.common import exception
from cyborg.conductor.binding import device_profiles
from cyborg.conductor.inventory import programming
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import controlpath as controlpath_obj
from cyborg.objects import deployable as deployable_obj
from cyborg.objects import device as device_obj
from tests import binders
from tests.db import seed

IMAGE = "6a1c3f2e-8d4b-4c7a-9e1f-0b2d3c4e5f60"


class Agent:
    """What AgentAPI.fpga_program is asked, answering ``answer`` or raising it."""

    def __init__(self, answer: Any = True) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def fpga_program(self, context: Any, hostname: str, **kwargs: Any) -> bool:
        self.calls.append((hostname, kwargs))
        if isinstance(self.answer, Exception):
            raise self.answer
        return bool(self.answer)


def _deployable(db, device_type: str = "FPGA") -> deployable_obj.Deployable:  # type: ignore[no-untyped-def]
    device = device_obj.create(
        db.context, type=device_type, vendor="8086", model="PAC", hostname="fpga-host"
    )
    controlpath_obj.create(
        db.context, device_id=device.id, cpid_type="PCI", cpid_info=seed.pci(0x5E)
    )
    return deployable_obj.create(
        db.context, name="fpga-host_0000:5e:00.0", num_accelerators=1, device_id=device.id,
        driver_name="intel",
    )  # fmt: skip


def test_success_records_the_bitstream(db) -> None:  # type: ignore[no-untyped-def]
    deployable = _deployable(db)
    agent = Agent()
    programming.program_deployable(
        db.context, agent, deployable_uuid=deployable.uuid, image_uuid=IMAGE
    )
    assert agent.calls == [
        (
            "fpga-host",
            {
                "controlpath_id": {"cpid_type": "PCI", "cpid_info": seed.pci(0x5E)},
                "bitstream_uuid": IMAGE,
                "driver_name": "intel",
            },
        )
    ]
    assert deployable_obj.get_by_uuid(db.context, deployable.uuid).bitstream_id == IMAGE


def test_a_gpu_is_refused_without_asking_the_agent(db) -> None:  # type: ignore[no-untyped-def]
    deployable = _deployable(db, "GPU")
    agent = Agent()
    with pytest.raises(exception.DeployableNotProgrammable, match="GPU, not an FPGA") as caught:
        programming.program_deployable(
            db.context, agent, deployable_uuid=deployable.uuid, image_uuid=IMAGE
        )
    assert caught.value.code == 409
    assert agent.calls == []


def test_a_deployable_bound_to_an_instance_is_not_reprogrammed(db) -> None:  # type: ignore[no-untyped-def]
    deployable = _deployable(db)
    rp_uuid = "7b2d94e1-c8a3-4f60-9d1e-2a3b4c5d6e7f"
    deployable_obj.update(db.context, deployable.uuid, rp_uuid=rp_uuid)
    device_profiles.create_device_profile(
        db.context, name="fpga", groups=[{"resources:FPGA": "1"}]
    )
    (arq,) = binders.binder().create(db.context, device_profile_name="fpga", project_id="p")
    arq_obj.update_state(
        db.context, arq, expected={"Initial"}, new_state="BindStarted",
        hostname="fpga-host", device_rp_uuid=rp_uuid, instance_uuid=IMAGE,
    )  # fmt: skip
    agent = Agent()
    with pytest.raises(exception.DeployableNotProgrammable, match="bound to it"):
        programming.program_deployable(
            db.context, agent, deployable_uuid=deployable.uuid, image_uuid=IMAGE
        )
    assert agent.calls == []


def test_an_unknown_deployable_is_a_404(db) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exception.DeployableNotFound):
        programming.program_deployable(
            db.context, Agent(), deployable_uuid=IMAGE, image_uuid=IMAGE
        )


@pytest.mark.parametrize(
    ("error", "expected", "code"),
    [
        (oslo_messaging.MessagingTimeout("no answer"), exception.AgentUnavailable, 503),
        (
            exception.FPGAProgramError(address="0000:5e:00.0", host="h", reason="exit 1"),
            exception.FPGAProgramError,
            409,
        ),
        (exception.ImageNotFound(uuid=IMAGE), exception.ImageNotFound, 400),
    ],
)
def test_a_failure_leaves_the_bitstream_alone(db, error, expected, code) -> None:  # type: ignore[no-untyped-def]
    deployable = _deployable(db)
    with pytest.raises(expected) as caught:
        programming.program_deployable(
            db.context, Agent(error), deployable_uuid=deployable.uuid, image_uuid=IMAGE
        )
    assert caught.value.code == code
    assert deployable_obj.get_by_uuid(db.context, deployable.uuid).bitstream_id is None
