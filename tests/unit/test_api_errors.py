"""What the API answers for the errors of the services it depends on: the dependency's
trouble in words, never its URL or a library's error text (those stay in the log)."""

import json

from cyborg.api import errors
from cyborg.common import exception


def _faultstring(response: object) -> str:
    body = json.loads(response.body)  # type: ignore[attr-defined]
    return str(json.loads(body["error_message"])["faultstring"])


def test_a_placement_failure_is_answered_without_its_url() -> None:
    err = exception.PlacementError(
        method="GET",
        url="/resource_providers?name=compute-1",
        reason="Unable to establish connection to http://10.0.0.5:8778/resource_providers",
    )
    response = errors.from_exception(err)
    assert response.status_code == 503
    assert _faultstring(response) == exception.PlacementError.public_msg
    assert "10.0.0.5" not in response.text and "resource_providers" not in response.text


def test_a_remote_placement_failure_too() -> None:
    """As rebuilt in the API from the conductor's answer: a subclass, same kwargs."""
    remote = type("PlacementError_Remote", (exception.PlacementError,), {})
    err = remote("Placement request GET http://10.0.0.5:8778/ failed: refused")
    assert _faultstring(errors.from_exception(err)) == exception.PlacementError.public_msg


def test_placement_not_configured_still_says_what_to_set() -> None:
    err = exception.PlacementNotConfigured()
    assert _faultstring(errors.from_exception(err)) == err.message


def test_other_errors_keep_their_message() -> None:
    err = exception.NoFreeAccelerator(host="compute-1", reason="all 2 are in use")
    assert _faultstring(errors.from_exception(err)) == err.message
