"""cyborg.api.healthcheck.Healthcheck with probes of the test's own: how often it
probes, and what it answers. The real probes (database, broker) are the stories
tests/api/gabbits/healthcheck.yaml, database-down.yaml and broker-down.yaml."""

import json
import threading
from typing import Any

import webob
from oslo_config import cfg

from cyborg.api import healthcheck


def _app(environ: dict[str, Any], start_response: Any) -> Any:
    return webob.Response("the API")(environ, start_response)


def _check(
    probes: dict[str, healthcheck.Probe], cache_seconds: float = 3600
) -> healthcheck.Healthcheck:
    return healthcheck.Healthcheck(_app, cfg.ConfigOpts(), probes, cache_seconds)


def _get(check: healthcheck.Healthcheck, path: str = "/healthcheck") -> webob.Response:
    return webob.Request.blank(path).get_response(check)


def _faultstring(response: webob.Response) -> str:
    return str(json.loads(json.loads(response.body)["error_message"])["faultstring"])


class Counting:
    """A probe that passes and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return True


def test_other_paths_go_to_the_api() -> None:
    assert _get(_check({}), "/v2").text == "the API"


def test_a_process_probes_once_per_interval_however_often_it_is_asked() -> None:
    probe = Counting()
    check = _check({"database": probe})
    for _ in range(10):
        assert _get(check).status_int == 200
    assert probe.calls == 1


def test_without_a_cache_every_request_probes() -> None:
    probe = Counting()
    check = _check({"database": probe}, cache_seconds=0)
    for _ in range(3):
        _get(check)
    assert probe.calls == 3


def _fails() -> bool:
    raise OSError("connection to 10.0.0.5:5432 refused, password=hunter2")


def test_a_failing_probe_is_named_and_its_error_is_not() -> None:
    check = _check({"database": _fails, "message_broker": lambda: False})
    response = _get(check)
    assert response.status_int == 503
    assert _faultstring(response) == (
        "The API cannot serve requests: the database does not answer; no message broker "
        "of the RPC transport accepts a login."
    )
    assert b"10.0.0.5" not in response.body
    assert b"hunter2" not in response.body


def test_while_one_request_probes_the_others_get_the_last_answer() -> None:
    probing, release = threading.Event(), threading.Event()
    healthy = [True]

    def slow() -> bool:
        if not healthy[0]:
            probing.set()
            release.wait(60)
        return healthy[0]

    check = _check({"database": slow}, cache_seconds=0)
    assert _get(check).status_int == 200
    healthy[0] = False
    answers: list[int] = []
    prober = threading.Thread(target=lambda: answers.append(_get(check).status_int))
    prober.start()
    assert probing.wait(60)
    assert _get(check).status_int == 200  # the last answer, without waiting
    release.set()
    prober.join(60)
    assert answers == [503]
