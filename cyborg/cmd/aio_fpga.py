"""FPGA programming in the all-in-one: its agent's RPC server, a simulated card, bitstreams.

The conductor programs an FPGA by calling the agent of the device's host
(cyborg.agent.rpcapi), so the all-in-one's agent serves its RPC topic on the
in-process transport like cyborg-agent does. Where no driver finds hardware, the
simulated host has a programmable card (cyborg.drivers.simulated_pac) beside the fake
driver's devices, and the embedded Image API (cyborg.wsgi.embedded_images) offers
two bitstreams for it, each with its ``accel:function_id``.
"""

import atexit
import dataclasses
from typing import Any

import oslo_messaging
from oslo_config import cfg

from cyborg.agent import manager, programming
from cyborg.agent.resource_tracker import ResourceTracker
from cyborg.clients import glance
from cyborg.common import rpc
from cyborg.drivers import gbs, simulated_pac
from cyborg.wsgi import embedded_images


@dataclasses.dataclass(frozen=True)
class Bitstream:
    image_uuid: str
    name: str
    afu_uuid: str  # the AFU it loads: its function id


#: OPAE's native loopback samples (nlb0, nlb3), built for the simulated card.
BITSTREAMS = (
    Bitstream(
        "a5d0c7e2-3b1f-4e6a-9c80-5f2d1b7e4a01", "nlb0", "d8424dc4-a4a3-c413-f89e-433683f9040b"
    ),
    Bitstream(
        "b6e1d8f3-4c2a-4f7b-8d91-6a3e2c8f5b02", "nlb3", "f7df405c-bd7a-cf72-22f1-44b0b93acd18"
    ),
)
#: The AFU a new simulated card holds.
INITIAL = BITSTREAMS[0]


def images() -> list[embedded_images.Image]:
    """The bitstreams as images (a GBS file each, with its function id property)."""
    return [
        embedded_images.Image(
            id=b.image_uuid,
            name=f"{b.name}.gbs",
            data=gbs.build(
                simulated_pac.INTERFACE_UUID, b.afu_uuid, b.name, f"{b.name}\n".encode() * 4096
            ),
            properties={glance.FUNCTION_ID_PROPERTY: b.afu_uuid},
        )
        for b in BITSTREAMS
    ]


def client_options(conf: cfg.ConfigOpts, endpoint: str) -> None:
    """Point ``[glance]`` (agent and conductor) at the embedded Image API, unless the
    configuration names an Image service of its own."""
    if conf.glance.endpoint_override or conf.glance.auth_type:
        return
    conf.set_override("endpoint_override", endpoint, group="glance")


def serve_agent(
    conf: cfg.ConfigOpts, tracker: ResourceTracker, programmer: programming.Programmer
) -> Any:
    """The agent's RPC server (topic ``[agent] topic``, server = its host name), started."""
    target = oslo_messaging.Target(topic=conf.agent.topic, server=tracker.hostname)
    endpoint = manager.AgentManager(tracker, conf, programmer)
    server = rpc.get_server(conf, target, [endpoint])
    server.start()
    atexit.register(rpc.stop_server, server, conf.graceful_shutdown_timeout / 2)
    return server
