"""cyborg-plan jobs against the real API over HTTP (the gabbi APIFixture's app, served
on a loopback port; no-auth, so the caller is the administrator)."""

import json
import threading
import wsgiref.simple_server
from collections.abc import Iterator

import pytest

from cyborg.cmd import plan
from tests.api import fixtures


class _Quiet(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    fixture = fixtures.APIFixture()
    fixture.start_fixture()
    server = wsgiref.simple_server.make_server("127.0.0.1", 0, fixture.app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
        fixture.stop_fixture()


def _jobs(endpoint: str, capsys, *args: str) -> tuple[int, object, str]:  # type: ignore[no-untyped-def]
    argv = ["jobs", "--os-auth-type", "none", "--os-endpoint-override", endpoint, *args]
    code = plan.main(argv)
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else None, err


def test_submit_list_show_cancel(endpoint: str, capsys) -> None:  # type: ignore[no-untyped-def]
    code, job, _ = _jobs(
        endpoint,
        capsys,
        "submit",
        "--job-type",
        "resnet50",
        "--devices",
        "2-4",
        "--throughput",
        "A100-SXM4-80GB=2400.5",
        "--throughput",
        "V100=900",
        "--priority",
        "5",
        "--name",
        "cli-job",
    )
    assert code == 0
    assert isinstance(job, dict)
    assert (job["state"], job["devices"], job["priority"]) == ("queued", {"min": 2, "max": 4}, 5)
    assert job["throughputs"] == {"A100-SXM4-80GB": 2400.5, "V100": 900.0}
    code, other, _ = _jobs(endpoint, capsys, "submit", "--job-type", "bert", "--devices", "1")
    assert code == 0 and isinstance(other, dict)

    # One job a page: list follows the next links to the end.
    code, listed, _ = _jobs(endpoint, capsys, "list", "--limit", "1", "--state", "queued")
    assert code == 0 and isinstance(listed, dict)
    assert [j["uuid"] for j in listed["jobs"]] == [job["uuid"], other["uuid"]]

    code, shown, _ = _jobs(endpoint, capsys, "show", job["uuid"])
    assert code == 0 and isinstance(shown, dict) and shown["name"] == "cli-job"
    code, cancelled, _ = _jobs(endpoint, capsys, "cancel", job["uuid"])
    assert code == 0 and cancelled == {"uuid": job["uuid"], "state": "cancelled"}
    code, shown, _ = _jobs(endpoint, capsys, "show", job["uuid"])
    assert isinstance(shown, dict) and shown["state"] == "cancelled"

    code, _, err = _jobs(endpoint, capsys, "cancel", job["uuid"])
    assert code == 1
    assert "409" in err and "is cancelled; only a queued or allocated job" in err


def test_the_api_names_what_it_refuses(endpoint: str, capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = _jobs(endpoint, capsys, "submit", "--job-type", "t", "--devices", "4-2")
    assert code == 1
    assert "400" in err and "devices/max" in err
    code, _, err = _jobs(
        endpoint, capsys, "submit", "--job-type", "t", "--devices", "1", "--throughput", "m=-1"
    )
    assert code == 1 and "throughputs/m" in err
    code, _, err = _jobs(endpoint, capsys, "show", "0b7f6c38-1d2c-4f0f-9e5b-2a0c9d1e0f00")
    assert code == 1 and "404" in err and "could not be found" in err


@pytest.mark.parametrize("devices", ["x", "2-", "a-b", "1-2-3"])
def test_bad_device_counts_are_usage_errors(devices: str, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exited:
        plan.main(
            ["jobs", "--os-auth-type", "none", "submit", "--job-type", "t", "--devices", devices]
        )
    assert exited.value.code == 2
    assert "give N or MIN-MAX" in capsys.readouterr().err


def test_submit_needs_a_graph_or_a_job_type(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exited:
        plan.main(["jobs", "--os-auth-type", "none", "submit", "--devices", "1"])
    assert exited.value.code == 2
    assert "one of the arguments --graph --job-type is required" in capsys.readouterr().err
