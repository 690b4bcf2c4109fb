"""cyborg-status upgrade check against real things: RabbitMQ, an HTTP Placement stand-in.

RabbitMQ is the test server on 127.0.0.1:5672 (guest/guest, `tools/test-services.sh
rabbitmq`). Placement is a small HTTP server in a thread that answers ``GET /`` with a
version document, as Placement does; a closed port stands for a Placement that is down.
"""

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from oslo_config import cfg
from oslo_upgradecheck import upgradecheck

import cyborg.conf
from cyborg.cmd import status

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


AUTHTOKEN = (
    "[keystone_authtoken]\n"
    "www_authenticate_uri = http://keystone.example.com/identity\n"
    "auth_type = password\n"
    "auth_url = http://keystone.example.com/identity\n"
    "username = cyborg\n"
    f"password = {SECRET}\n"
    "project_name = service\n"
    "user_domain_name = Default\n"
    "project_domain_name = Default\n"
)


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


def test_keystone_authtoken_configured_passes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = status.check_keystone_authtoken(_conf(tmp_path, AUTHTOKEN))
    assert result.code == Code.SUCCESS, result.details


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


def test_authtoken_without_www_authenticate_uri_is_a_warning(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = AUTHTOKEN.replace("www_authenticate_uri", "# www_authenticate_uri")
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


def test_command_passes_on_a_ready_deployment(tmp_path, placement) -> None:  # type: ignore[no-untyped-def]
    _require_rabbitmq()
    path = tmp_path / "cyborg.conf"
    path.write_text(
        f"[DEFAULT]\ntransport_url = {RABBIT}\n"
        f"[database]\nconnection = sqlite:///{tmp_path}/cyborg.sqlite\n"
        + _placement_section(placement)
        + AUTHTOKEN
    )
    assert _run("cyborg-dbsync", "--config-file", str(path), "upgrade").returncode == 0
    result = _run("cyborg-status", "--config-file", str(path), "upgrade", "check", "--json")
    checks = _checks(result.stdout)
    assert result.returncode == 0, checks
    assert set(checks) == {
        "Database schema",
        "RabbitMQ",
        "Placement API",
        "Keystone authentication",
        "Policy File JSON to YAML Migration",
    }


def test_command_fails_on_unreachable_services_without_secrets(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "cyborg.conf"
    path.write_text(
        f"[DEFAULT]\ntransport_url = rabbit://cyborg:{SECRET}@127.0.0.1:{_closed_port()}/\n"
        f"[database]\nconnection = sqlite:///{tmp_path}/cyborg.sqlite\n"
        + _placement_section(f"http://127.0.0.1:{_closed_port()}")
        + AUTHTOKEN
    )
    result = _run("cyborg-status", "--config-file", str(path), "upgrade", "check", "--json")
    assert result.returncode == 2
    checks = _checks(result.stdout)
    assert checks["RabbitMQ"][0] == Code.FAILURE
    assert checks["Placement API"][0] == Code.FAILURE
    assert checks["Keystone authentication"][0] == Code.SUCCESS
    assert SECRET not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
