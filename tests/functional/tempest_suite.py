"""Run cyborg-tempest-plugin's API tests with ``tempest run`` and read their results.

Tempest and the plugin live in a virtual environment of their own, ``.venv/tempest``
(tools/ensure-venv.sh --with-tests; versions pinned in tempest-requirements.txt):
their requirements are not Cyborg's. ``run`` writes a ``tempest.conf`` for a cloud
(identity v3, the accounts tempest tests as, the accelerator service), runs the
API tests, never the scenario ones (they boot servers through Nova), and returns
each test's result, read from tempest's subunit stream.

Tempest authenticates as pre-provisioned accounts (``ACCOUNTS``, which the caller
creates in Keystone once for every run) rather than its dynamic credentials: those
create and delete a project, its users and their role assignments for each test
class, some six hundred Keystone requests per run that took most of its time.

Environment:
  CYBORG_TEST_TEMPEST_VENV  the virtual environment holding tempest and the plugin
                            (default: .venv/tempest of this repository)
"""

import dataclasses
import json
import os
import re
import subprocess

import pytest

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.environ.get("CYBORG_TEST_TEMPEST_VENV", os.path.join(REPOSITORY, ".venv", "tempest"))
PARSER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "subunit_results.py")
API_TESTS = "cyborg_tempest_plugin.tests.api."
HOW_TO_FIX = (
    "Tempest and cyborg-tempest-plugin run from a virtual environment of their own: run "
    "tools/ensure-venv.sh --with-tests (or `python3 -m venv .venv/tempest && "
    ".venv/tempest/bin/pip install -r tempest-requirements.txt`), or point "
    "CYBORG_TEST_TEMPEST_VENV at one."
)
# A test's id in the stream ends with its attributes: "...test_x[id-<uuid>,negative]".
_ATTRIBUTES = re.compile(r"\[[^\]]*\]$")


@dataclasses.dataclass(frozen=True)
class Account:
    """A user of tempest's accounts file, in domain Default."""

    username: str
    project: str  # "" for a system-scoped account
    roles: tuple[str, ...]


PROJECT = "tempest"
PASSWORD = "tempest-secret"
# The personas every class of the plugin asks for (base.BaseAPITest.credentials plus
# test_srbac's system_admin), one account each: tempest locks an account while a
# class holds it, and runs one class at a time. "admin" and "project_admin" are two
# accounts with the admin role; "primary" is the project member. Tempest puts the
# project personas in the project of the first one a class gets, as its dynamic
# credentials do, so they share one; the service user has a project of its own.
ACCOUNTS = (
    Account("tempest-admin", PROJECT, ("admin",)),
    Account("tempest-project-admin", PROJECT, ("admin",)),
    Account("tempest-manager", PROJECT, ("manager",)),
    Account("tempest-member", PROJECT, ("member",)),
    Account("tempest-reader", PROJECT, ("reader",)),
    Account("tempest-service", "tempest-service", ("service",)),
    Account("tempest-system-admin", "", ("admin",)),
)


@dataclasses.dataclass(frozen=True)
class Cloud:
    """What tempest.conf needs to know of the cloud under test."""

    auth_url: str  # Keystone's v3 URL
    region: str
    enforce_new_defaults: bool  # Cyborg's [oslo_policy] enforce_new_defaults


@dataclasses.dataclass(frozen=True)
class Result:
    status: str  # subunit's: success, fail, skip, ...
    details: str  # a failure's traceback, a skip's reason


def require_installed() -> None:
    """Fail the test, saying how to fix it, when VENV lacks tempest or the plugin."""
    python = os.path.join(VENV, "bin", "python")
    found = os.access(os.path.join(VENV, "bin", "tempest"), os.X_OK) and (
        subprocess.run(
            [python, "-c", "import cyborg_tempest_plugin"], capture_output=True, check=False
        ).returncode
        == 0
    )
    if not found:
        pytest.fail(f"{VENV} lacks tempest or cyborg-tempest-plugin. {HOW_TO_FIX}", pytrace=False)


def accounts_yaml() -> str:
    """Tempest's accounts file (``[auth] test_accounts_file``) of ACCOUNTS."""
    entries = []
    for account in ACCOUNTS:
        scope = f"project_name: {account.project}\n  project_domain_name: Default"
        entry = (
            f"- username: {account.username}\n  password: {PASSWORD}\n"
            f"  user_domain_name: Default\n  {scope if account.project else 'system: all'}\n"
            f"  roles: [{', '.join(account.roles)}]\n"
        )
        entries.append(entry)
    return "".join(entries)


def tempest_conf(cloud: Cloud, directory: str) -> str:
    """A tempest.conf for the Cyborg API tests and nothing else."""
    unavailable = ("nova", "glance", "cinder", "neutron", "swift", "placement")
    return (
        f"[DEFAULT]\nlog_dir = {directory}\nlog_file = tempest.log\n"
        f"[oslo_concurrency]\nlock_path = {directory}/locks\n"
        "[auth]\nuse_dynamic_credentials = false\n"
        f"test_accounts_file = {directory}/accounts.yaml\n"
        f"[identity]\nauth_version = v3\nuri_v3 = {cloud.auth_url}\nregion = {cloud.region}\n"
        "[identity-feature-enabled]\napi_v2 = false\n"
        "[service_available]\ncyborg = true\n" + "".join(f"{s} = false\n" for s in unavailable)
        + f"[cyborg_policy]\nenforce_new_defaults = {str(cloud.enforce_new_defaults).lower()}\n"
    )  # fmt: skip


def run(cloud: Cloud, directory: str) -> dict[str, Result]:
    """Run the plugin's API tests against ``cloud``; results by test id, shortened
    to what follows ``cyborg_tempest_plugin.tests.api.`` (a class that skips itself
    has one result, ``setUpClass (<module>.<class>)``).

    One test class at a time: ACCOUNTS holds one account of each persona, which a
    class locks while it runs.
    """
    require_installed()
    conf = os.path.join(directory, "tempest.conf")
    with open(conf, "w") as handle:
        handle.write(tempest_conf(cloud, directory))
    with open(os.path.join(directory, "accounts.yaml"), "w") as handle:
        handle.write(accounts_yaml())
    stream, output = os.path.join(directory, "results.subunit"), os.path.join(directory, "run.log")
    command = [os.path.join(VENV, "bin", "tempest"), "run", "--config-file", conf, "--subunit"]
    command += ["--concurrency", "1", "--regex", "^" + re.escape(API_TESTS)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "TEMPEST_"))}
    with open(stream, "wb") as out, open(output, "wb") as err:
        # Exits 1 when a test fails: the results say which.
        subprocess.run(
            command, stdout=out, stderr=err, cwd=directory, env=env, timeout=1800, check=False
        )
    with open(stream, "rb") as source:
        parsed = subprocess.run(
            [os.path.join(VENV, "bin", "python"), PARSER],
            stdin=source,
            capture_output=True,
            check=True,
            timeout=120,
        )
    results = {}
    for line in parsed.stdout.decode().splitlines():
        result = json.loads(line)
        test = _ATTRIBUTES.sub("", result["id"]).replace(API_TESTS, "", 1)
        results[test] = Result(result["status"], result["details"])
    if not results:
        with open(output, errors="replace") as log:
            pytest.fail(f"tempest ran no test:\n{log.read()[-4000:]}", pytrace=False)
    return results
