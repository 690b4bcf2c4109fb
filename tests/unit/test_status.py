"""cyborg-status upgrade check against real things: RabbitMQ, Keystone, an HTTP
Placement stand-in.

RabbitMQ is the test server on 127.0.0.1:5672 (guest/guest, `tools/test-services.sh
rabbitmq`). Keystone is the real service (tests/keystone_service.py), started once for
the module. Placement is a small HTTP server in a thread that answers ``GET /`` with a
version document, as Placement does; a closed port stands for a service that is down.
The agent's and the roles' checks are in test_status_roles.py.
"""

import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator

import pytest
from oslo_config import cfg
from oslo_upgradecheck import upgradecheck

import cyborg.conf
from cyborg.cmd import status
from tests import keystone_service

BIN = os.path.dirname(sys.executable)
RABBIT = "rabbit://guest:guest@127.0.0.1:5672/"
SECRET = "do-not-print-me"
Code = upgradecheck.Code


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _require_rabbitmq() -> None:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=3).close()
    except OSError as err:
        pytest.fail(
            f"RabbitMQ is not reachable on 127.0.0.1:5672 ({err}): start it with "
            "`tools/test-services.sh rabbitmq`",
            pytrace=False,
        )


class _VersionDocument(http.server.BaseHTTPRequestHandler):
    max_version = "1.39"

    def do_GET(self) -> None:
        if self.path == "/":
            body = json.dumps(
                {
                    "versions": [
                        {
                            "id": "v1.0",
                            "min_version": "1.0",
                            "max_version": self.max_version,
                            "status": "CURRENT",
                            "links": [{"rel": "self", "href": ""}],
                        }
                    ]
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        else:
            body = b"<html>not placement</html>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(max_version: str) -> Iterator[str]:
    handler = type("Handler", (_VersionDocument,), {"max_version": max_version})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def placement() -> Iterator[str]:
    yield from _serve("1.39")


@pytest.fixture
def old_placement() -> Iterator[str]:
    yield from _serve("1.36")


def _conf(tmp_path, text: str) -> cfg.ConfigOpts:  # type: ignore[no-untyped-def]
    path = tmp_path / "cyborg.conf"
    path.write_text(text)
    conf = cfg.ConfigOpts()
    cyborg.conf.parse_args(["cyborg-status", "--config-file", str(path)], conf=conf)
    return conf


def _placement_section(endpoint: str) -> str:
    return f"[placement]\nauth_type = none\nendpoint_override = {endpoint}\n"


def authtoken(auth_url: str) -> str:
    return (
        "[keystone_authtoken]\n"
        f"www_authenticate_uri = {auth_url}\n"
        "auth_type = password\n"
        f"auth_url = {auth_url}\n"
        "username = cyborg\n"
        f"password = {SECRET}\n"
        "project_name = service\n"
        "user_domain_name = Default\n"
        "project_domain_name = Default\n"
    )


@pytest.fixture(scope="module")
def keystone() -> Iterator[str]:
    """The auth_url of a real Keystone, started once for this module."""
    problem = ""
    try:
        keystone_service.require_installed()
        with (
            tempfile.TemporaryDirectory() as directory,
            keystone_service.running(directory) as service,
        ):
            yield service.auth_url
    except keystone_service.KeystoneUnavailable as err:
        problem = str(err)
    if problem:  # outside the except: the message alone, without a chain of tracebacks
        pytest.fail(problem, pytrace=False)


# -- RabbitMQ ------------------------------------------------------------------------


def test_rabbitmq_that_accepts_the_login_passes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _require_rabbitmq()
    result = status.check_rabbitmq(_conf(tmp_path, f"[DEFAULT]\ntransport_url = {RABBIT}\n"))
    assert result.code == Code.SUCCESS, result.details


def test_rabbitmq_refusing_the_password_fails_without_showing_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _require_rabbitmq()
    url = f"rabbit://guest:{SECRET}@127.0.0.1:5672/"
    result = status.check_rabbitmq(_conf(tmp_path, f"[DEFAULT]\ntransport_url = {url}\n"))
    assert result.code == Code.FAILURE
    assert "ACCESS_REFUSED" in result.details
    assert "guest@127.0.0.1:5672" in result.details
    assert SECRET not in result.details


def test_rabbitmq_on_a_closed_port_fails_and_says_what_to_check(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"rabbit://cyborg:{SECRET}@127.0.0.1:{_closed_port()}/"
    result = status.check_rabbitmq(_conf(tmp_path, f"[DEFAULT]\ntransport_url = {url}\n"))
    assert result.code == Code.FAILURE
    assert "[DEFAULT] transport_url" in result.details
    assert "cyborg@127.0.0.1:" in result.details
    assert SECRET not in result.details


def test_one_rabbitmq_of_a_cluster_down_is_a_warning(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _require_rabbitmq()
    url = f"rabbit://guest:guest@127.0.0.1:5672,guest:guest@127.0.0.1:{_closed_port()}/"
    result = status.check_rabbitmq(_conf(tmp_path, f"[DEFAULT]\ntransport_url = {url}\n"))
    assert result.code == Code.WARNING, result.details


def test_the_in_process_transport_is_a_warning(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = status.check_rabbitmq(_conf(tmp_path, "[DEFAULT]\ntransport_url = fake://\n"))
    assert result.code == Code.WARNING
    assert "one process" in result.details


# -- Placement -----------------------------------------------------------------------


def test_placement_at_the_needed_microversion_passes(tmp_path, placement) -> None:  # type: ignore[no-untyped-def]
    result = status.check_placement(_conf(tmp_path, _placement_section(placement)))
    assert result.code == Code.SUCCESS, result.details
    assert status.PLACEMENT_MICROVERSION == "1.39"


def test_placement_too_old_fails_naming_both_versions(tmp_path, old_placement) -> None:  # type: ignore[no-untyped-def]
    result = status.check_placement(_conf(tmp_path, _placement_section(old_placement)))
    assert result.code == Code.FAILURE
    assert "1.36" in result.details
    assert "1.39" in result.details
    assert "upgrade Placement" in result.details


def test_placement_on_a_closed_port_fails(tmp_path) -> None:  # type: ignore[no-untyped-def]
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    result = status.check_placement(_conf(tmp_path, _placement_section(endpoint)))
    assert result.code == Code.FAILURE
    assert "Cannot reach Placement" in result.details
    assert "[placement]" in result.details


def test_a_url_that_is_not_placement_fails(tmp_path, placement) -> None:  # type: ignore[no-untyped-def]
    result = status.check_placement(_conf(tmp_path, _placement_section(placement + "/nova")))
    assert result.code == Code.FAILURE
    assert "HTTP 404" in result.details


def test_placement_not_configured_is_a_warning(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = status.check_placement(_conf(tmp_path, ""))
    assert result.code == Code.WARNING
    assert "auth_type" in result.details


def test_placement_password_auth_without_auth_url_names_the_option(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = f"[placement]\nauth_type = password\nusername = cyborg\npassword = {SECRET}\n"
    result = status.check_placement(_conf(tmp_path, text))
    assert result.code == Code.FAILURE
    assert "auth_url" in result.details
    assert SECRET not in result.details


# -- Keystone ------------------------------------------------------------------------


def test_keystone_authtoken_configured_passes(tmp_path, keystone) -> None:  # type: ignore[no-untyped-def]
    result = status.check_keystone_authtoken(_conf(tmp_path, authtoken(keystone)))
    assert result.code == Code.SUCCESS, result.details
    assert keystone in result.details


def test_keystone_on_a_closed_port_fails_naming_auth_url(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"http://127.0.0.1:{_closed_port()}/identity"
    result = status.check_keystone_authtoken(_conf(tmp_path, authtoken(url)), timeout=3)
    assert result.code == Code.FAILURE
    assert "Cannot reach Keystone" in result.details
    assert "auth_url" in result.details
    assert SECRET not in result.details


def test_an_auth_url_that_is_not_keystone_fails(tmp_path, placement) -> None:  # type: ignore[no-untyped-def]
    result = status.check_keystone_authtoken(_conf(tmp_path, authtoken(placement + "/nova")))
    assert result.code == Code.FAILURE
    assert "HTTP 404" in result.details
    assert "Keystone version document" in result.details


def test_keystone_strategy_without_authtoken_fails(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = status.check_keystone_authtoken(_conf(tmp_path, ""))
    assert result.code == Code.FAILURE
    assert "[keystone_authtoken]" in result.details
    assert "auth_url" in result.details


def test_authtoken_without_auth_url_names_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = "[keystone_authtoken]\nauth_type = password\nusername = cyborg\n"
    result = status.check_keystone_authtoken(_conf(tmp_path, text))
    assert result.code == Code.FAILURE
    assert "auth_url" in result.details


def test_authtoken_without_www_authenticate_uri_is_a_warning(tmp_path, keystone) -> None:  # type: ignore[no-untyped-def]
    text = authtoken(keystone).replace("www_authenticate_uri", "# www_authenticate_uri")
    result = status.check_keystone_authtoken(_conf(tmp_path, text))
    assert result.code == Code.WARNING
    assert "www_authenticate_uri" in result.details


def test_noauth_is_a_warning(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = status.check_keystone_authtoken(
        _conf(tmp_path, "[DEFAULT]\nauth_strategy = noauth\n")
    )
    assert result.code == Code.WARNING


# -- the command, as an operator runs it ---------------------------------------------


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [os.path.join(BIN, args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _checks(stdout: str) -> dict[str, tuple[int, str]]:
    return {c["check"]: (c["result"], c["details"]) for c in json.loads(stdout)["checks"]}


NOVA = (
    "[nova]\nauth_type = password\nauth_url = http://127.0.0.1:5000/identity\n"
    f"username = cyborg\npassword = {SECRET}\nproject_name = service\n"
    "user_domain_name = Default\nproject_domain_name = Default\n"
)


def _ready(tmp_path, placement: str, keystone: str) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / "cyborg.conf"
    path.write_text(
        f"[DEFAULT]\ntransport_url = {RABBIT}\n"
        f"[database]\nconnection = sqlite:///{tmp_path}/cyborg.sqlite\n"
        + _placement_section(placement)
        + authtoken(keystone)
        + NOVA
    )
    assert _run("cyborg-dbsync", "--config-file", str(path), "upgrade").returncode == 0
    return str(path)


def test_api_and_conductor_roles_pass_on_a_ready_deployment(tmp_path, placement, keystone) -> None:  # type: ignore[no-untyped-def]
    _require_rabbitmq()
    path = _ready(tmp_path, placement, keystone)
    for role in ("api", "conductor"):
        result = _run(
            "cyborg-status", "--config-file", path, "upgrade", "check", "--json", "--role", role
        )
        checks = _checks(result.stdout)
        assert result.returncode == 0, (role, checks, result.stderr)
        assert list(checks) == list(status.ROLES[role])
    assert "Keystone authentication" in status.ROLES["api"]
    assert "Nova credentials" in status.ROLES["conductor"]


def test_without_a_role_every_check_runs(tmp_path, placement, keystone) -> None:  # type: ignore[no-untyped-def]
    _require_rabbitmq()
    result = _run("cyborg-status", "--config-file", _ready(tmp_path, placement, keystone),
                  "upgrade", "check", "--json")  # fmt: skip
    checks = _checks(result.stdout)
    assert list(checks) == list(status.CHECKS)
    # The default [agent] enabled_drivers (fake_driver) is the only warning.
    warned = {name for name, (code, _) in checks.items() if code != Code.SUCCESS}
    assert warned == {"Accelerator drivers"}, checks
    assert result.returncode == 1


def test_command_fails_on_unreachable_services_without_secrets(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "cyborg.conf"
    path.write_text(
        f"[DEFAULT]\ntransport_url = rabbit://cyborg:{SECRET}@127.0.0.1:{_closed_port()}/\n"
        f"[database]\nconnection = sqlite:///{tmp_path}/cyborg.sqlite\n"
        + _placement_section(f"http://127.0.0.1:{_closed_port()}")
        + authtoken(f"http://127.0.0.1:{_closed_port()}/identity")
        + NOVA
    )
    result = _run("cyborg-status", "--config-file", str(path), "upgrade", "check", "--json")
    assert result.returncode == 2
    checks = _checks(result.stdout)
    assert checks["RabbitMQ"][0] == Code.FAILURE
    assert checks["Placement API"][0] == Code.FAILURE
    assert checks["Keystone authentication"][0] == Code.FAILURE
    assert checks["Nova credentials"][0] == Code.SUCCESS
    assert SECRET not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_an_unknown_role_is_refused_with_the_choices(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "cyborg.conf"
    path.write_text("")
    result = _run("cyborg-status", "--config-file", str(path), "upgrade", "check", "--role", "db")
    assert result.returncode == 2
    assert "agent" in result.stderr and "conductor" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
