"""How bench/soak.py judges what its clients saw: which answers count as failures,
which ARQs are lost or stuck, and its percentiles (real HTTP on a loopback stub)."""

from collections.abc import Iterator

import pytest
import requests

from bench import soak, soak_record
from tests import http_stub


@pytest.fixture
def server() -> Iterator[str]:
    """Answers GET /<status> with that status."""

    def answer(
        method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        return int(path.strip("/")), {"Content-Type": "text/plain"}, b"answer"

    httpd = http_stub.server(answer)
    with http_stub.serving(httpd):
        yield f"http://127.0.0.1:{httpd.server_address[1]}"


def test_5xx_and_answers_not_expected_are_counted_apart(server: str) -> None:
    recorder = soak_record.Recorder()
    session = requests.Session()
    for status in (200, 404, 409, 500, 503):
        recorder.http(session, "read", "GET", f"{server}/{status}", (200, 404))
    assert (recorder.server_error_count, recorder.unexpected_count) == (2, 1)
    assert recorder.server_errors[0].startswith(f"read: GET {server}/500: 500")
    assert [(kind, count) for kind, count, _, _ in recorder.rows()] == [("read", 5)]


def test_a_request_without_an_answer_is_a_transport_error() -> None:
    recorder = soak_record.Recorder()
    recorder.http(requests.Session(), "read", "GET", "http://127.0.0.1:9/v2", (200,))
    assert recorder.transport_error_count == 1
    assert recorder.server_error_count == 0


def test_arqs_lost_stuck_and_left_behind() -> None:
    ledger = soak_record.Ledger()
    for uuid in ("gone-early", "never-seen", "bind-stuck", "undeleted", "fine", "ghost"):
        ledger.created(uuid)
    ledger.gone("gone-early", "404 before it was deleted")
    ledger.gone("fine", "deleted")
    ledger.gone("ghost", "deleted")
    in_database = {"bind-stuck": "BindStarted", "undeleted": "Initial", "ghost": "Unbound",
                   "other": "Deleting"}  # fmt: skip
    lost, stuck = soak._judge_arqs(in_database, ledger)
    assert lost == {
        "gone-early": "404 before it was deleted",
        "never-seen": "missing from the database",
    }
    assert stuck == {
        "bind-stuck": "BindStarted",
        "other": "Deleting",
        "ghost": "Unbound after its delete was answered",
        "undeleted": "Initial, never deleted",
    }


def test_the_nearest_rank_percentile() -> None:
    values = [float(n) for n in range(1, 101)]
    assert soak_record.percentile(values, 0.99) == 99.0
    assert soak_record.percentile(values, 0.5) == 50.0
    assert soak_record.percentile([7.0], 0.99) == 7.0
