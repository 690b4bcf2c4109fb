"""cyborg.api.log_context: a request never logs under the thread's previous context."""

from collections.abc import Iterable
from typing import Any

from oslo_context import context as oslo_context
from oslo_middleware import request_id

from cyborg.api import log_context
from cyborg.common.context import RequestContext


def _seen_by_the_app() -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        # What oslo.log would read for a line logged here, before authentication.
        current = oslo_context.get_current()
        assert current is not None
        seen.update(request_id=current.request_id, user_id=current.user_id)
        start_response("200 OK", [])
        return [b""]

    stack = request_id.RequestId(log_context.FreshLogContext(app))
    list(stack({"REQUEST_METHOD": "GET", "PATH_INFO": "/v2"}, lambda status, headers: None))
    return seen


def test_a_request_starts_with_its_own_request_id_and_no_user() -> None:
    RequestContext(user_id="previous-user", project_id="p", request_id="req-previous")
    seen = _seen_by_the_app()
    assert seen["user_id"] is None
    assert seen["request_id"].startswith("req-") and seen["request_id"] != "req-previous"
