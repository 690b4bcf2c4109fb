"""Every answer stays true across RabbitMQ outages.

cyborg-api and cyborg-conductor reach the machine's RabbitMQ through a loopback proxy
each (tests/tcp_proxy.py), so the test can cut the broker for both (it seems down),
for the API alone (its replies are lost while the conductor works) or for the
conductor alone (requests wait in the broker), each time longer than
rpc_response_timeout, while clients keep creating and deleting ARQs. Afterwards, and
again once the conductor has drained its queue, the ARQs in the database are exactly
those the API answered 201 for and not 204 for a delete: a 503 create left no ARQ, a
503 delete removed none, every 201 ARQ exists. See doc/source/admin/broker-outages.rst.
"""

import dataclasses
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import kombu
import pytest

from cyborg.common import exception
from tests import tcp_proxy
from tests.functional import client_threads, services

ADMIN = {"X-User-Id": "admin", "X-Project-Id": "admin", "X-Roles": "admin,member,reader"}
RPC_TIMEOUT = 6  # rpc_response_timeout of the services: short, so outages outlast it
CLIENTS = 4
RABBIT = ("127.0.0.1", 5672)


def _link(name: str, proxy: tcp_proxy.TCPProxy) -> str:
    return (
        f"[DEFAULT]\ntransport_url = rabbit://guest:guest@127.0.0.1:{proxy.port}/\n"
        f"# {name} reaches RabbitMQ through its own proxy\n"
    )


EXTRA_CONF = f"""
[DEFAULT]
rpc_response_timeout = {RPC_TIMEOUT}
[conductor]
deadline_margin = 2
[oslo_messaging_rabbit]
rabbit_retry_interval = 1
rabbit_retry_backoff = 1
rabbit_interval_max = 2
kombu_reconnect_delay = 0.5
"""


@dataclasses.dataclass
class Answer:
    kind: str  # "create" or "delete"
    status: int
    sent_at: float
    answered_at: float
    uuids: list[str]  # created (201) or to delete
    body: Any


class Ledger:
    """Every answer the clients got, in the order they came."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.answers: list[Answer] = []

    def add(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def since(self, moment: float) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.sent_at >= moment]

    def expected_arqs(self) -> set[str]:
        """ARQs a true API leaves: created with 201, not deleted with 204."""
        with self._lock:
            created = {
                u for a in self.answers if a.kind == "create" and a.status == 201 for u in a.uuids
            }
            deleted = {
                u for a in self.answers if a.kind == "delete" and a.status == 204 for u in a.uuids
            }
        return created - deleted


def _call(endpoint: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        endpoint + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    try:
        # Far longer than any answer takes: the API always answers, never the socket.
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


class Clients(client_threads.ClientThreads):
    """Threads that create an ARQ, then delete the one they created before, forever."""

    join_timeout = 300.0

    def __init__(self, endpoint: str, ledger: Ledger) -> None:
        super().__init__(CLIENTS)
        self.endpoint = endpoint
        self.ledger = ledger

    def _run(self) -> None:
        mine: list[str] = []
        while not self._stop.is_set():
            sent = time.time()
            status, body = _call(
                self.endpoint, "POST", "/accelerator_requests", {"device_profile_name": "gpu"}
            )
            uuids = [arq["uuid"] for arq in body["arqs"]] if status == 201 else []
            self.ledger.add(Answer("create", status, sent, time.time(), uuids, body))
            mine += uuids
            if len(mine) > 1:
                victim = mine.pop(0)
                sent = time.time()
                status, body = _call(
                    self.endpoint, "DELETE", f"/accelerator_requests?arqs={victim}"
                )
                self.ledger.add(Answer("delete", status, sent, time.time(), [victim], body))


@dataclasses.dataclass
class Outage:
    deployment: services.Deployment
    api_link: tcp_proxy.TCPProxy
    conductor_link: tcp_proxy.TCPProxy

    def topic(self) -> str:
        with open(self.deployment.conf_path) as conf:
            for line in conf:
                if line.startswith("topic = "):
                    return line.split("=", 1)[1].strip()
        raise AssertionError("no [conductor] topic in the deployment's config")


@pytest.fixture
def outage() -> Iterator[Outage]:
    services.require_rabbitmq()
    api_link = tcp_proxy.TCPProxy(*RABBIT)
    conductor_link = tcp_proxy.TCPProxy(*RABBIT)
    try:
        with services.deployment(
            extra_conf=EXTRA_CONF,
            conductor_conf=_link("the conductor", conductor_link),
            api_conf=_link("the API", api_link),
        ) as deployment:
            yield Outage(deployment, api_link, conductor_link)
    finally:
        api_link.close()
        conductor_link.close()


def _queued(topic: str) -> int:
    """Messages waiting in the conductors' queue on the real broker (not through a proxy)."""
    with kombu.Connection(f"amqp://guest:guest@{RABBIT[0]}:{RABBIT[1]}//") as connection:
        _, count, _ = connection.default_channel.queue_declare(queue=topic, passive=True)
        return int(count)


def _stored_arqs(deployment: services.Deployment) -> set[str]:
    return {row[0] for row in deployment.query("SELECT uuid FROM extended_accelerator_requests")}


def _check_answers(deployment: services.Deployment, answers: list[Answer]) -> None:
    """Only the statuses a true API can give; a 503 says nothing was changed."""
    allowed = {"create": {201, 503}, "delete": {204, 503}}
    for answer in answers:
        fault = "" if answer.status < 400 else json.loads(answer.body["error_message"])
        if answer.status not in allowed[answer.kind] or (
            answer.status == 503 and fault["faultstring"] != exception.ConductorUnavailable.msg_fmt
        ):
            deployment._fail(f"untrue or unexpected answer: {answer}")


def _cut(outage: Outage, which: str) -> list[tcp_proxy.TCPProxy]:
    links = {
        "broker": [outage.api_link, outage.conductor_link],
        "api": [outage.api_link],
        "conductor": [outage.conductor_link],
    }[which]
    for link in links:
        link.cut()
    return links


@pytest.mark.parametrize("which", ["broker", "api", "conductor"])
def test_every_answer_is_true_across_an_outage(outage: Outage, which: str) -> None:
    deployment, ledger = outage.deployment, Ledger()
    endpoint = deployment.endpoint
    status, body = _call(
        endpoint, "POST", "/device_profiles", {"name": "gpu", "groups": [{"resources:PGPU": "1"}]}
    )
    assert status == 201, body

    with Clients(endpoint, ledger):
        start = time.time()
        deployment.wait_for(
            lambda: len(ledger.since(start)) >= 2 * CLIENTS, 120, "load before the cut"
        )
        cut_at = time.time()
        links = _cut(outage, which)
        # Down longer than rpc_response_timeout: until a request sent after the cut got
        # its answer, which took at least that long (its deadline passed meanwhile).
        deployment.wait_for(lambda: ledger.since(cut_at + 0.5), 300, "an answer during the outage")
        for link in links:
            link.restore()
        restored_at = time.time()
        deployment.wait_for(
            lambda: any(a.status in (201, 204) for a in ledger.since(restored_at)),
            300,
            "requests to succeed again",
        )
    answers = ledger.answers
    _check_answers(deployment, answers)

    # Nothing sent can still commit: every deadline has passed and the queue is empty.
    last_answer = max(a.answered_at for a in answers)
    deployment.wait_for(
        lambda: time.time() > last_answer + RPC_TIMEOUT and _queued(outage.topic()) == 0,
        300,
        "every call's deadline to pass and the conductor's queue to drain",
    )
    assert _stored_arqs(deployment) == ledger.expected_arqs()

    # And once the conductor has answered a request sent after everything else.
    status, body = _call(endpoint, "POST", "/accelerator_requests", {"device_profile_name": "gpu"})
    assert status == 201, body
    ledger.add(
        Answer("create", 201, time.time(), time.time(), [a["uuid"] for a in body["arqs"]], body)
    )
    assert _stored_arqs(deployment) == ledger.expected_arqs()

    outcome = {
        kind: sorted({a.status for a in answers if a.kind == kind})
        for kind in ("create", "delete")
    }
    print(f"{which} outage: {len(answers)} answers, statuses {outcome}")
    print("answered from records:", deployment.log("api").count("answering from its record"))
    print("no record, 503:", deployment.log("api").count("no answer, nothing changed"))
    print("refused late:", deployment.log("conductor").count("Refused "))
    print("rolled back late:", deployment.log("conductor").count("Rolled back "))
