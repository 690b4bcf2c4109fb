"""Property-based fuzzing from the OpenAPI document: no request may get a 5xx.

schemathesis generates requests for every operation of the document (valid and
invalid bodies, queries, paths and headers) and sends them to the in-process API,
backed by a real database and conductor. Derandomised, so CI runs are repeatable.
"""

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
import webob

from cyborg.api import openapi
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


@schema.parametrize()
@hypothesis.settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_no_request_gets_a_server_error(case: schemathesis.Case, wsgi_app: Any) -> None:
    response = case.call(app=wsgi_app)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
    )


def test_the_served_document_is_the_fuzzed_one(wsgi_app: Any) -> None:
    response = webob.Request.blank("/openapi.json").get_response(wsgi_app)
    assert response.status_int == 200
    assert response.json == openapi.document()
