"""Property-based fuzzing from the OpenAPI document: no request may get a 5xx.

schemathesis generates requests for every operation of the document (valid and
invalid bodies, queries, paths and headers) and sends them to the in-process API,
backed by a real database and conductor. Each example also draws a microversion
(2.0 to the newest) and a persona (admin, member, reader, another project's member,
a service), so every version and role meets the generated input; no answer may be a
5xx or carry a traceback, SQL, a file path or an internal URL. Derandomised, so CI
runs are repeatable.

The hostile inputs of the hardening issue's own fuzz run follow, as fixed cases on
every backend: bodies nested 100,000 deep, NaN and Infinity, unpaired surrogates and
bytes that are not UTF-8 sent to every operation that takes a body (400 each, never a
5xx), the requests that used to be 500s or stored what they should not, and 4-byte
UTF-8 text through the API and back.
"""

import json
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
import webob
from hypothesis import strategies as st

from cyborg.api import microversion, openapi
from tests import db_backends
from tests.api import fixtures

schema = schemathesis.openapi.from_dict(openapi.document())


@pytest.fixture(scope="module", params=db_backends.selected_backends())
def wsgi_app(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The API on each database backend: some inputs only fail on a server database."""
    deployment = fixtures.APIFixture()
    deployment.backend = request.param
    try:
        deployment.start_fixture()
    except db_backends.BackendUnavailable as err:
        pytest.fail(str(err), pytrace=False)
    try:
        yield deployment.app
    finally:
        deployment.stop_fixture()


VERSIONS = [
    microversion.header_value(v) for v in microversion.versions_since(microversion.MIN_VERSION)
]
PERSONAS = {
    "admin": {"X-Roles": "admin,member,reader", "X-Project-Id": "fuzz"},
    "member": {"X-Roles": "member,reader", "X-Project-Id": "fuzz"},
    "reader": {"X-Roles": "reader", "X-Project-Id": "fuzz"},
    "other-member": {"X-Roles": "member,reader", "X-Project-Id": "other"},
    "service": {"X-Roles": "service", "X-Service-Roles": "service", "X-Project-Id": "service"},
}
# What an error body must never show: a traceback, SQL or its driver, a source file,
# this checkout's paths, an internal URL.
LEAKS = (
    "Traceback",
    'File "',
    "site-packages",
    "/cyborg/",
    "sqlalchemy",
    "pymysql",
    "psycopg",
    "SELECT ",
    "INSERT INTO",
    "UPDATE ",
    "oslo_",
    "http://127.0.0.1",
)


def assert_no_leak(text: str, what: str) -> None:
    for leak in LEAKS:
        assert leak not in text, f"{what}: the answer shows {leak!r}: {text[:500]}"


@schema.parametrize()
@schema.given(version=st.sampled_from(VERSIONS), persona=st.sampled_from(sorted(PERSONAS)))
@hypothesis.settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_no_request_gets_a_server_error(
    case: schemathesis.Case, version: str, persona: str, wsgi_app: Any
) -> None:
    # Operations that declare the version header have it fuzzed already.
    headers = {"OpenStack-API-Version": version}
    headers.update(case.headers or {})
    headers.update({"X-User-Id": f"fuzz-{persona}", **PERSONAS[persona]})
    case.headers = headers
    response = case.call(app=wsgi_app)
    what = f"{case.method} {case.formatted_path} at {version} as {persona}"
    assert response.status_code < 500, f"{what} -> {response.status_code}: {response.text[:500]}"
    if response.status_code >= 400:
        assert_no_leak(response.text, what)


def test_the_served_document_is_the_fuzzed_one(wsgi_app: Any) -> None:
    response = webob.Request.blank("/openapi.json").get_response(wsgi_app)
    assert response.status_int == 200
    assert response.json == openapi.document()


# --- the hardening issue's hostile inputs, on every operation and backend -------------

ADMIN = {
    "X-User-Id": "fuzz",
    "X-Project-Id": "fuzz",
    "X-Roles": "admin,member,reader",
    "X-Service-Roles": "service",
    "Content-Type": "application/json",
    "OpenStack-API-Version": "accelerator latest",
}
SOME_UUID = "0b7f6c38-1d2c-4f0f-9e5b-2a0c9d1e0f00"

# Each is refused by the strict parse of the body, before any handler reads it.
HOSTILE_BODIES = {
    "deep": b"[" * 100_000,
    "deep-closed": b"[" * 5_000 + b"]" * 5_000,
    "nan": b'{"flops": NaN, "step_time_ms": NaN, "count": NaN}',
    "infinity": b'{"step_time_ms": Infinity, "count": -Infinity}',
    "overflow": b'{"step_time_ms": 1e400}',
    "surrogate": b'{"name": "\\ud800", "description": "\\udfff"}',
    "not-utf8": b'{"name": "caf\xe9"}',
}


def _operations() -> list[tuple[str, str]]:
    return [
        (method.upper(), path.replace("{uuid}", SOME_UUID).replace("{uuid_or_name}", "dp"))
        for path, item in openapi.document()["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "requestBody" in operation
    ]


def _call(app: Any, method: str, path: str, body: bytes) -> webob.Response:
    request = webob.Request.blank(path, method=method, headers=ADMIN)
    request.body = body
    return request.get_response(app)


@pytest.mark.parametrize("kind", sorted(HOSTILE_BODIES))
def test_hostile_bodies_are_a_400_on_every_operation(wsgi_app: Any, kind: str) -> None:
    for method, path in _operations():
        response = _call(wsgi_app, method, path, HOSTILE_BODIES[kind])
        assert response.status_int == 400, f"{method} {path}: {response.status}"
        message = response.json["error_message"]
        assert "Traceback" not in message and "File " not in message, message


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        (
            "POST",
            "/v2/device_profiles",
            {
                "name": "p",
                "uuid": "8E505Ee0DfcB05A6-9daAFFfe9eFb98dc",
                "groups": [{"resources:PGPU": "1"}],
            },
            "canonical form",
        ),
        ("POST", f"/v2/graphs/{SOME_UUID}/plans", {"count": 5.0}, "is not of type 'integer'"),
        (
            "POST",
            "/v2/device_profiles",
            {"name": "p", "groups": [{"resources:PGPU": "999999"}] * 64},
            "units; a device profile group may ask for at most",
        ),
        (
            "POST",
            "/v2/device_profiles",
            {"name": "p", "groups": [{"resources:GPU": "1"}]},
            "CUSTOM_",
        ),
    ],
    ids=["odd-uuid", "float-count", "million-units", "unknown-class"],
)
def test_the_issues_requests_are_a_400(
    wsgi_app: Any, method: str, path: str, body: Any, message: str
) -> None:
    response = _call(wsgi_app, method, path, json.dumps(body).encode())
    assert response.status_int == 400, response.text
    assert message in response.json["error_message"]


def test_four_byte_text_round_trips_through_the_api(wsgi_app: Any) -> None:
    text = "\U0001f600 \U0001d518\U0001d52b\U0001d526 \U00020000"
    body = {"name": "four-bytes", "description": text, "groups": [{"accel:function_id": text}]}
    created = _call(wsgi_app, "POST", "/v2/device_profiles", json.dumps(body).encode())
    assert created.status_int == 201, created.text
    try:
        shown = _call(wsgi_app, "GET", f"/v2/device_profiles/{created.json['uuid']}", b"")
        assert shown.json["device_profile"]["description"] == text
        assert shown.json["device_profile"]["groups"] == [{"accel:function_id": text}]
    finally:
        _call(wsgi_app, "DELETE", f"/v2/device_profiles/{created.json['uuid']}", b"")


INJECTED = "x\r\nSet-Cookie: injected=1\r\nX-Injected: 1"


@pytest.mark.parametrize(
    "header",
    ["X-Openstack-Request-Id", "OpenStack-API-Version", "Accept", "X-Forwarded-Proto"],
)
def test_header_injection_reaches_no_response_header(wsgi_app: Any, header: str) -> None:
    """A header value carrying CR LF (as a WSGI server behind a lax proxy may pass on)
    is never copied into a response header, where it would split the answer."""
    request = webob.Request.blank("/v2/device_profiles", headers={**ADMIN, header: INJECTED})
    response = request.get_response(wsgi_app)
    assert response.status_int < 500, response.text
    for name, value in response.headerlist:
        assert "\r" not in value and "\n" not in value, (name, value)
        assert name.lower() not in ("set-cookie", "x-injected"), (name, value)
    assert_no_leak(response.text, f"{header} with CR LF")
