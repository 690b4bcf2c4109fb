"""The public Cyborg API conformance suite: cyborg-tempest-plugin's API tests.

The cloud of test_deployment.py (a real Keystone and Placement, cyborg-api under
gunicorn with keystonemiddleware, a conductor and two fake-driver agents over
RabbitMQ, MariaDB), started once, with tempest's accounts in its Keystone; its
cyborg-api is restarted for each policy mode: ``[oslo_policy] enforce_new_defaults``
and ``enforce_scope`` on, as upstream's secure-RBAC jobs run, where the plugin runs
all 42 of its API tests (upstream passes them all), and off, where it skips its 9
secure-RBAC tests (upstream passes the other 33). Every test must pass but the
deliberate departures of conformance_departures.csv, each of which must fail with
its 4xx where the plugin expects upstream's 500; doc/source/api/conformance.rst
shows that file. The scenario tests boot servers through Nova and are not run.
"""

import contextlib
import csv
import dataclasses
import os
import re
import tempfile
from collections.abc import Iterable, Iterator

import pytest
from keystoneauth1 import session as ks_session

from tests import keystone_service, service_process
from tests.functional import services, tempest_suite
from tests.functional.test_deployment import Cloud, running_cloud

HERE = os.path.dirname(os.path.abspath(__file__))
DEPARTURES_FILE = os.path.join(HERE, "conformance_departures.csv")
DOC_PAGE = os.path.join(tempest_suite.REPOSITORY, "doc", "source", "api", "conformance.rst")
DEVICES = 6  # two hosts of the fake driver: an FPGA board and two GPUs each


@dataclasses.dataclass(frozen=True)
class Mode:
    enforce_new_defaults: bool
    upstream_passes: int  # upstream Cyborg passes every test the plugin runs


MODES = {"new-defaults": Mode(True, 42), "legacy-defaults": Mode(False, 33)}


@dataclasses.dataclass(frozen=True)
class Departure:
    test: str
    answer: str  # ours: "<status> <the tempest exception the plugin gets>"
    reason: str


def departures() -> dict[str, Departure]:
    with open(DEPARTURES_FILE, newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    return {test: Departure(test, answer, reason) for test, _, answer, reason in rows}


@dataclasses.dataclass(frozen=True)
class Suite:
    mode: Mode
    results: dict[str, tempest_suite.Result]
    logs: dict[str, str]  # the last errors of each service's log, to explain a failure


def policy_conf(mode: Mode) -> str:
    on = str(mode.enforce_new_defaults).lower()
    return f"[oslo_policy]\nenforce_new_defaults = {on}\nenforce_scope = {on}\n"


def inventory_reported(session: ks_session.Session) -> bool:
    """Both agents' devices, with the GPUs' attributes, are in Cyborg."""
    accelerator = {"service_type": "accelerator"}
    devices = session.get("/devices", endpoint_filter=accelerator).json()["devices"]
    attributes = session.get("/attributes", endpoint_filter=accelerator).json()["attributes"]
    return len(devices) == DEVICES and bool(attributes)


def provision(keystone: keystone_service.KeystoneService) -> None:
    """tempest_suite.ACCOUNTS in Keystone, once for both modes."""
    for project in {a.project for a in tempest_suite.ACCOUNTS if a.project}:
        keystone.create_project(project)
    password = tempest_suite.PASSWORD
    for account in tempest_suite.ACCOUNTS:
        if account.project:
            keystone.create_user(account.username, password, account.project, [*account.roles])
        else:  # Keystone wants a default project; its token is the system's
            user = keystone.create_user(account.username, password, tempest_suite.PROJECT, [])
            for role in account.roles:
                keystone.grant_system_role(user, role)


def serve_api(deployment: services.Deployment, mode: Mode) -> None:
    """cyborg-api anew with ``mode``'s policy, on the same port: the rest of the
    cloud, which the policy does not concern, stays up."""
    deployment.stop("api")
    deployment.start("api", "api", policy_conf(mode))
    url = deployment.endpoint  # its version document needs no token
    deployment.wait_for(lambda: service_process.answers(url), 60, "cyborg-api")


@pytest.fixture(scope="module")
def cloud() -> Iterator[Cloud]:
    tempest_suite.require_installed()  # before minutes of starting services
    with contextlib.contextmanager(running_cloud)() as cloud:
        admin = cloud.session("admin")
        cloud.deployment.wait_for(lambda: inventory_reported(admin), 120, "both inventories")
        provision(cloud.keystone)
        yield cloud


@pytest.fixture(scope="module", params=list(MODES))
def suite(request: pytest.FixtureRequest, cloud: Cloud) -> Suite:
    mode = MODES[request.param]
    serve_api(cloud.deployment, mode)
    target = tempest_suite.Cloud(
        auth_url=cloud.keystone.auth_url,
        region=keystone_service.REGION,
        enforce_new_defaults=mode.enforce_new_defaults,
    )
    with tempfile.TemporaryDirectory() as directory:
        results = tempest_suite.run(target, directory)
    logs = {
        path: errors(path) for path in (cloud.keystone.log_path, cloud.deployment.log_path("api"))
    }
    return Suite(mode, results, logs)


def errors(log: str) -> str:
    """The last error lines of ``log``."""
    with open(log, errors="replace") as handle:
        lines = [line for line in handle if re.search(r"ERROR|Error:|Traceback", line)]
    return "".join(lines[-20:])


def report(suite: Suite, tests: Iterable[str]) -> str:
    """Each test's result, then the last errors in the services' logs."""
    results = [(test, suite.results[test]) for test in tests]
    # "exists": listed but never started, as when its class's setup failed.
    parts = [f"--- {test}: {r.status}\n{r.details[-3000:]}" for test, r in results]
    parts += [f"=== last errors in {name}\n{tail}" for name, tail in suite.logs.items()]
    return "\n".join(parts)


def class_of(test: str) -> str:
    """``<module>.<class>`` of a test, or of a class fixture's ``setUpClass (...)``."""
    fixture = re.fullmatch(r"\w+Class \((.*)\)", test)
    return fixture[1] if fixture else test.rsplit(".", 1)[0]


def test_every_api_test_passes_but_the_departures(suite: Suite) -> None:
    listed = departures()
    results = suite.results.items()
    skipped = {class_of(t) for t, r in results if r.status == "skip" and "Class (" in t}
    # Only in the legacy mode, and only test_srbac.py's classes, as the plugin says.
    allowed = {c for c in skipped if not suite.mode.enforce_new_defaults and "test_srbac." in c}
    assert skipped == allowed, report(suite, [f"setUpClass ({c})" for c in skipped])
    # A skipped class's tests stay "exists": listed, never started.
    unexpected = [
        t for t, r in results if r.status != "success" and t not in listed
        and class_of(t) not in allowed
    ]  # fmt: skip
    assert not unexpected, report(suite, unexpected)
    passed = [test for test, r in suite.results.items() if r.status == "success"]
    print(f"{len(passed)} passed, {len(listed)} departures, {len(skipped)} classes skipped")
    assert len(passed) + len(listed) == suite.mode.upstream_passes, sorted(passed)


def test_each_departure_is_its_4xx_where_upstream_answered_500(suite: Suite) -> None:
    for test, departure in departures().items():
        result = suite.results.get(test)
        assert result is not None, f"{test} did not run"
        exception = departure.answer.split()[-1]  # the plugin's assertRaises got this instead
        assert result.status == "fail" and f"exceptions.{exception}:" in result.details, (
            f"{test}: {departure.answer} expected\n{report(suite, [test])}"
        )


def test_the_doc_page_shows_the_departures_file() -> None:
    with open(DOC_PAGE) as page:
        tables = re.findall(r"^\.\. csv-table::.*\n(?:\s+:.*\n)*", page.read(), re.MULTILINE)
    shown = [
        os.path.normpath(os.path.join(os.path.dirname(DOC_PAGE), path))
        for table in tables
        for path in re.findall(r":file: (\S+)", table)
    ]
    assert shown == [DEPARTURES_FILE], f"{DOC_PAGE} must show {DEPARTURES_FILE} with csv-table"
    assert all(d.reason for d in departures().values())
