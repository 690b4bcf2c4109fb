"""SIGTERM stops a conductor within its grace period, even while it serves a call
that would take minutes; the call's client is told, and nothing is left half-done.

Real processes over RabbitMQ: the API, a conductor, no agent. Programming an FPGA
whose host has no agent holds a conductor's RPC thread for ``[agent]
program_timeout`` (here ten minutes); before the grace period existed, the conductor
logged "got SIGTERM, stopping" and kept running that long.
"""

import threading
from typing import Any

import requests

from tests.functional import services

GRACE = 3
IMAGE = "6b1f8d2c-3e4a-4b5c-8d6e-7f8091a2b3c4"


def _program(endpoint: str, deployable: str, answers: list[Any]) -> None:
    try:
        answers.append(
            requests.patch(
                f"{endpoint}/deployables/{deployable}/program",
                json=[{"op": "replace", "path": "/program", "value": [{"image_uuid": IMAGE}]}],
                timeout=300,
            )
        )
    except requests.RequestException as err:
        answers.append(err)


def test_sigterm_stops_a_conductor_in_its_grace_period_while_a_call_hangs() -> None:
    extra = f"[DEFAULT]\ngraceful_shutdown_timeout = {GRACE}\n[agent]\nprogram_timeout = 600\n"
    with services.deployment(extra_conf=extra) as deployment:
        # The first seeded device becomes an FPGA on a host whose agent never answers.
        deployment.execute("UPDATE devices SET type = 'FPGA' WHERE id = 1")
        (deployable,) = deployment.query("SELECT uuid FROM deployables WHERE id = 1")[0]
        answers: list[Any] = []
        call = threading.Thread(target=_program, args=(deployment.endpoint, deployable, answers))
        call.start()
        deployment.wait_for(
            lambda: "Programming deployable" in deployment.log("conductor"),
            120,
            "the conductor to start programming",
        )
        conductor = deployment.processes["conductor"]
        conductor.terminate()
        # Generous: the grace period plus start-up noise on a loaded machine, far below
        # the ten minutes the call would hold it.
        code = conductor.wait(timeout=GRACE + 120)
        del deployment.processes["conductor"]
        assert code == 0
        log = deployment.log("conductor")
        assert "got SIGTERM, stopping" in log
        assert "work still running (RPC calls)" in log
        # Another conductor serves the API at once (the API's own call waits for a
        # reply that will not come; it ends with the deployment).
        deployment.start_conductor("conductor-2")
        listing = requests.get(f"{deployment.endpoint}/deployables", timeout=60)
        assert listing.status_code == 200
        # Nothing was recorded for the unfinished programming.
        assert deployment.query("SELECT bitstream_id FROM deployables WHERE id = 1") == [(None,)]
    call.join(timeout=1)  # the API process was stopped with the deployment
