"""Nova's boot flow against real cyborg-api and cyborg-conductor processes.

RabbitMQ and MariaDB are real; Nova is the recording stand-in of tests/fake_nova.py
(Nova cannot run here), reached through the conductor's [nova] keystoneauth options.
The calls are the ones nova/accelerator/cyborg.py makes, in its order (no
microversion header, so 2.0).
"""

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests import fake_nova
from tests.functional import services

HOST = "compute-1.example.com"


@pytest.fixture(scope="module")
def cloud() -> Iterator[tuple[services.Deployment, fake_nova.FakeNova]]:
    with fake_nova.running() as nova:
        conf = (
            f"[nova]\nauth_type = none\nendpoint_override = {nova.endpoint}\n"
            "[conductor]\nbind_timeout = 2\n[DEFAULT]\nperiodic_interval = 1\n"
        )
        with services.deployment("mysql", extra_conf=conf) as deployment:
            yield deployment, nova


def api(deployment: services.Deployment, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, deployment.endpoint + path, timeout=30, **kwargs)
    assert response.status_code < 400, (method, path, response.status_code, response.text)
    return response.json() if response.content else None


def create_profile(deployment: services.Deployment, name: str) -> None:
    profile = {"name": name, "groups": [{"resources:PGPU": "1"}]}
    api(deployment, "POST", "/device_profiles", json=[profile])


def nova_boots(deployment: services.Deployment, instance: str, profile: str) -> list[str]:
    """What nova-api and nova-conductor do for a flavor with accel:device_profile."""
    (found,) = api(deployment, "GET", f"/device_profiles?name={profile}")["device_profiles"]
    assert found["groups"] == [{"resources:PGPU": "1"}]
    arqs = api(deployment, "POST", "/accelerator_requests", json={"device_profile_name": profile})
    uuids = [arq["uuid"] for arq in arqs["arqs"]]
    binding = {
        u: [
            {"path": "/hostname", "op": "add", "value": HOST},
            {"path": "/device_rp_uuid", "op": "add", "value": services.DEVICE_RP},
            {"path": "/instance_uuid", "op": "add", "value": instance},
        ]
        for u in uuids
    }
    api(deployment, "PATCH", "/accelerator_requests", json=binding)
    return uuids


def test_nova_is_told_once_the_arqs_are_bound(cloud) -> None:  # type: ignore[no-untyped-def]
    deployment, nova = cloud
    instance = str(uuid.uuid4())
    nova.instances.add(instance)
    create_profile(deployment, "boot-gpu")
    (arq,) = nova_boots(deployment, instance, "boot-gpu")

    events = nova.wait_for_events(1)
    assert events == [
        {
            "name": "accelerator-request-bound",
            "server_uuid": instance,
            "tag": arq,
            "status": "completed",
            "code": 200,
        }
    ]
    assert nova.received[-1].headers["OpenStack-API-Version"] == "compute 2.82"
    # nova-compute: the instance's ARQs, resolved, with their attach handle.
    (bound,) = api(deployment, "GET", f"/accelerator_requests?instance={instance}")["arqs"]
    assert (bound["state"], bound["attach_handle_type"]) == ("Bound", "PCI")
    api(deployment, "DELETE", f"/accelerator_requests?instance={instance}")
    assert api(deployment, "GET", f"/accelerator_requests?instance={instance}")["arqs"] == []
    api(deployment, "DELETE", "/device_profiles/boot-gpu")


def test_nova_down_gets_the_event_when_it_is_back(cloud) -> None:  # type: ignore[no-untyped-def]
    deployment, nova = cloud
    instance = str(uuid.uuid4())
    nova.instances.add(instance)
    create_profile(deployment, "down-gpu")
    before = len(nova.events())
    nova.answers = [503, 503]  # Nova is down for two attempts
    (arq,) = nova_boots(deployment, instance, "down-gpu")
    events = nova.wait_for_events(before + 1, seconds=30)
    assert events[-1]["tag"] == arq
    assert [r.body["_answered"] for r in nova.received[-3:]] == [503, 503, 200]
    api(deployment, "DELETE", f"/accelerator_requests?instance={instance}")
    api(deployment, "DELETE", "/device_profiles/down-gpu")


def test_a_bind_cut_short_by_a_conductor_crash_is_finished_and_nova_told(cloud) -> None:  # type: ignore[no-untyped-def]
    deployment, nova = cloud
    instance = str(uuid.uuid4())
    nova.instances.add(instance)
    create_profile(deployment, "crash-gpu")
    body = {"device_profile_name": "crash-gpu"}
    (arq,) = api(deployment, "POST", "/accelerator_requests", json=body)["arqs"]
    # The conductor dies right after committing BindStarted (the first step of a
    # bind): that state is written here as it would have been, then the crash.
    deployment.kill("conductor")
    deployment.execute(
        "UPDATE extended_accelerator_requests SET state = 'BindStarted', hostname = :host, "
        "device_rp_uuid = :rp, instance_uuid = :instance, updated_at = :at WHERE uuid = :uuid",
        host=HOST, rp=services.DEVICE_RP, instance=instance, uuid=arq["uuid"],
        at=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - 60)),
    )  # fmt: skip
    before = len(nova.events())
    deployment.start_conductor()
    events = nova.wait_for_events(before + 1, seconds=30)
    assert (events[-1]["tag"], events[-1]["status"]) == (arq["uuid"], "completed")
    (bound,) = api(deployment, "GET", f"/accelerator_requests?instance={instance}")["arqs"]
    assert bound["state"] == "Bound"
    assert "Taking over the bind of accelerator request" in deployment.log("conductor")
    api(deployment, "DELETE", f"/accelerator_requests?instance={instance}")
    api(deployment, "DELETE", "/device_profiles/crash-gpu")
