"""Access: every operation of the OpenAPI document as every persona, against a real cloud.

tests/functional/access_table.py says what each persona gets; tests/functional/
access_cloud.py builds the cloud (a real Keystone, Placement, cyborg-api twice, with the
new and with the deprecated policy defaults, conductor and agent) and
tests/functional/access_requests.py the request of each cell.

Besides the statuses: no answer to a persona outside project A carries a field of
A's objects, A's objects are still there and unchanged after a refused request, and
no token or password used in the run reaches any service's log.
"""

import json
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests import keystone_service, placement_service
from tests.functional import access_table, services
from tests.functional.access_cloud import (
    DB_PASSWORD,
    DB_USER,
    FERNET,
    HOST,
    OWNED_PATHS,
    TIMEOUT,
    Cloud,
    Request,
    logs_of,
    owned_values,
    prepare,
    run_cloud,
)
from tests.functional.access_requests import OPERATIONS, arq_url, document_operations, nova_binding


@pytest.fixture(scope="module")
def cloud() -> Iterator[Cloud]:
    problem = ""
    try:
        keystone_service.require_installed()
        with tempfile.TemporaryDirectory() as directory:
            for built in run_cloud(directory):
                prepare(built)
                yield built
    except (keystone_service.KeystoneUnavailable, placement_service.PlacementUnavailable) as err:
        problem = str(err)
    if problem:  # outside the except: the message alone, without a chain of tracebacks
        pytest.fail(problem, pytrace=False)


# -- the checks -----------------------------------------------------------------------


def _leaks(cloud: Cloud, request: Request, response: requests.Response) -> list[str]:
    """Values of project A's objects in an outsider's answer (not those it sent)."""
    sent = request.path + json.dumps(request.body)
    answer = response.text + json.dumps(dict(response.headers))
    return sorted(v for v in cloud.a_values if v in answer and v not in sent)


def _snapshot(cloud: Cloud, request: Request) -> Any:
    if request.target is None:
        return None
    response = cloud.call("ad", Request("GET", request.target))
    return response.status_code, response.text


def _cell(cloud: Cloud, operation: str, persona: str, expected: int) -> list[str]:
    """Make one request; what is wrong with its answer."""
    request = OPERATIONS[operation](cloud, persona)
    before = _snapshot(cloud, request)
    response = cloud.call(persona, request)
    where = f"{operation} as {persona} ({request.method} {request.path})"
    wrong = []
    if response.status_code != expected:
        wrong.append(
            f"{where}: {response.status_code}, expected {expected}: {response.text[:300]}"
        )
    if persona in access_table.OUTSIDERS and (leaked := _leaks(cloud, request, response)):
        wrong.append(f"{where}: the answer shows project A's {leaked}")
    owned = request.path.startswith(OWNED_PATHS)
    if persona in access_table.INSIDERS - {"ad"} and owned and response.ok:
        cloud.a_values.update(owned_values(response.json() if response.content else None))
    shown = request.shows is None or request.shows in response.text
    if response.ok and persona in access_table.INSIDERS and not shown:
        wrong.append(f"{where}: project A's {request.shows} is missing from the answer")
    refused = response.status_code in (401, 403, 404)
    if refused and before is not None and (after := _snapshot(cloud, request)) != before:
        wrong.append(f"{where}: refused with {response.status_code}, but {before} is now {after}")
    if "Traceback" in response.text:
        wrong.append(f"{where}: a traceback in the answer")
    if persona == "x":
        cloud.refused_tokens.append(response.headers["X-OpenStack-Request-Id"])
    if request.after is not None:
        request.after(response)
    return wrong


def _run_matrix(cloud: Cloud, api: str, table: access_table.Table) -> None:
    cloud.api = api
    wrong: list[str] = []
    for operation in document_operations():
        for persona in access_table.PERSONAS:
            wrong += _cell(cloud, operation, persona, table[operation][persona])
    assert not wrong, f"{len(wrong)} cells are wrong:\n" + "\n".join(wrong)


def test_every_operation_has_a_row_and_a_request() -> None:
    operations = document_operations()
    assert sorted(access_table.EXPECTED) == sorted(operations), (
        "tests/functional/access_table.py needs a row per operation of openapi.document()"
    )
    assert sorted(OPERATIONS) == sorted(operations)


def test_every_persona_gets_what_the_table_says(cloud: Cloud) -> None:
    _run_matrix(cloud, "new", access_table.EXPECTED)


def test_with_the_deprecated_rules_too(cloud: Cloud) -> None:
    _run_matrix(cloud, "legacy", access_table.EXPECTED_WITH_LEGACY_DEFAULTS)


def _bound_arq_of_a(cloud: Cloud) -> tuple[str, str]:
    """A new ARQ of project A, bound by Nova to a new instance: (ARQ, instance)."""
    arq = cloud.new_arq()
    binding = nova_binding(cloud)
    bound = cloud.call("nA", Request("PATCH", "/v2/accelerator_requests", {arq: binding}))
    assert bound.status_code == 202, bound.text
    cloud.deployment.wait_for(
        lambda: cloud.ok("ad", "GET", arq_url(arq))["state"] == "Bound", TIMEOUT, "bound"
    )
    return arq, binding[-1]["value"]


def test_outsiders_reach_no_arq_of_project_a_by_its_instance(cloud: Cloud) -> None:
    """Filters and writes by instance, which the table's requests do not name."""
    arq, instance = _bound_arq_of_a(cloud)
    before = cloud.ok("ad", "GET", arq_url(arq))
    cloud.a_values.update({arq, instance})
    unbind = {arq: [{"op": "remove", "path": "/hostname"}]}
    probes = [
        ("B", Request("GET", f"/v2/accelerator_requests?instance={instance}")),
        (
            "nB",
            Request("GET", f"/v2/accelerator_requests?instance={instance}&bind_state=resolved"),
        ),
        ("nB", Request("PATCH", "/v2/accelerator_requests", unbind)),
        ("nB", Request("DELETE", f"/v2/accelerator_requests?instance={instance}")),
        ("B", Request("DELETE", f"/v2/accelerator_requests?instance={instance}")),
    ]
    wrong = []
    for persona, request in probes:
        response = cloud.call(persona, request)
        where = f"{request.method} {request.path} as {persona}: {response.status_code}"
        if request.method == "GET" and response.json().get("arqs") != []:
            wrong.append(f"{where}: {response.text[:300]}")
        if request.method != "GET" and response.status_code not in (204, 404):
            wrong.append(f"{where}: {response.text[:300]}")
        if leaked := _leaks(cloud, request, response):
            wrong.append(f"{where}: the answer shows project A's {leaked}")
    assert not wrong, "\n".join(wrong)
    assert cloud.ok("ad", "GET", arq_url(arq)) == before
    # The same question from project A shows them: the check above would see a leak.
    own = cloud.call("rd", Request("GET", f"/v2/accelerator_requests?instance={instance}"))
    assert _leaks(cloud, Request("GET", "/v2/accelerator_requests"), own)
    deleted = cloud.call("nA", Request("DELETE", f"/v2/accelerator_requests?instance={instance}"))
    assert deleted.status_code == 204, deleted.text


def test_no_token_or_password_reaches_a_log(cloud: Cloud) -> None:
    # The conductor's tokens for Placement and Nova are the cyborg user's: any Fernet
    # token in a log is one too many.
    rabbit = services.RABBIT_URL.split("://", 1)[1].rpartition("@")[0]  # user:password
    secrets = {*cloud.secrets, f"{DB_USER}_", f":{DB_PASSWORD}@", f"{rabbit}@"}
    logs = logs_of(cloud)
    assert {"api.log", "api-legacy.log", "conductor.log", f"agent-{HOST}.log"} <= set(logs)
    # Tokens did pass through loggers at DEBUG, so a leak would have been written.
    assert "DEBUG keystonemiddleware.auth_token" in logs["api.log"]
    assert "DEBUG oslo_messaging" in logs["conductor.log"]
    leaked = [
        f"{name}: {secret[:12]}... at {text.index(secret)}"
        for name, text in logs.items()
        for secret in secrets
        if secret in text
    ]
    leaked += [
        f"{name}: a Fernet token {m.group()[:16]}..."
        for name, text in logs.items()
        for m in FERNET.finditer(text)
    ]
    assert not leaked, "\n".join(leaked)


def test_a_refused_token_is_logged_as_its_own_anonymous_request(cloud: Cloud) -> None:
    """Not under the request id and user of the worker thread's previous request."""
    for api in cloud.apis:  # each after a request with a known token
        cloud.call("mb", Request("GET", "/v2/device_profiles"), api)
        refused = cloud.call("x", Request("GET", "/v2/device_profiles"), api)
        cloud.refused_tokens.append(refused.headers["X-OpenStack-Request-Id"])
    logs = logs_of(cloud)
    lines = (logs["api.log"] + logs["api-legacy.log"]).splitlines()
    refusals = [line for line in lines if "Authorization failed for token" in line]
    wrong = [
        request
        for request in cloud.refused_tokens
        if not any(f"[None {request} - - - - - -]" in line for line in refusals)
    ]
    assert not wrong, "\n".join(refusals[:5])
