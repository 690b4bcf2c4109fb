"""Reading a kubeconfig and the in-cluster service account, and typing API errors."""

import base64
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from cyborg.kubernetes import apiclient, kubeconfig
from cyborg.kubernetes.kubeconfig import ConfigError

SECRET = "s3cr3t-token-value"


def _write(tmp_path: Path, cluster: dict[str, Any], user: dict[str, Any]) -> str:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "agent",
        "contexts": [
            {"name": "other", "context": {"cluster": "nowhere", "user": "nobody"}},
            {"name": "agent", "context": {"cluster": "lab", "user": "cyborg"}},
        ],
        "clusters": [{"name": "lab", "cluster": cluster}],
        "users": [{"name": "cyborg", "user": user}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(document))
    return str(path)


def test_a_token_and_a_ca_path_relative_to_the_file(tmp_path: Path) -> None:
    cluster = {"server": "https://10.0.0.1:6443/", "certificate-authority": "ca.crt"}
    path = _write(tmp_path, cluster, {"token": SECRET})
    config = kubeconfig.from_kubeconfig(path)
    assert config.server == "https://10.0.0.1:6443"
    assert config.ca_file == str(tmp_path / "ca.crt")
    assert config.bearer_token() == SECRET
    assert SECRET not in repr(config)
    assert config.verify and config.cert_file is None


def test_inline_client_certificate_and_ca_are_private_files_removed_on_close(
    tmp_path: Path,
) -> None:
    data = {name: base64.b64encode(f"-- {name} --".encode()).decode() for name in ("ca", "c", "k")}
    path = _write(
        tmp_path,
        {"server": "https://api:6443", "certificate-authority-data": data["ca"]},
        {"client-certificate-data": data["c"], "client-key-data": data["k"]},
    )
    config = kubeconfig.from_kubeconfig(path)
    assert config.token is None and config.bearer_token() is None
    assert config.key_file is not None and config.ca_file is not None
    assert Path(config.key_file).read_text() == "-- k --"
    assert Path(config.ca_file).read_text() == "-- ca --"
    assert os.stat(config.key_file).st_mode & 0o077 == 0
    scratch = config.scratch_dir
    assert scratch is not None and os.stat(scratch).st_mode & 0o077 == 0
    config.close()
    assert not os.path.exists(scratch)


def test_a_token_file_is_read_at_each_call(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("first\n")
    path = _write(tmp_path, {"server": "https://api"}, {"tokenFile": "token"})
    config = kubeconfig.from_kubeconfig(path)
    assert config.bearer_token() == "first"
    (tmp_path / "token").write_text("rotated\n")
    assert config.bearer_token() == "rotated"


@pytest.mark.parametrize(
    ("cluster", "user", "message"),
    [
        ({}, {"token": SECRET}, "has no server"),
        ({"server": "https://api"}, {"exec": {"command": "aws"}}, "exec and auth-provider"),
        ({"server": "https://api"}, {"client-certificate": "c.crt"}, "needs its key"),
        ({"server": "https://api", "certificate-authority-data": "%%"}, {}, "not base64"),
    ],
)
def test_unusable_kubeconfigs_are_clear_errors(
    tmp_path: Path, cluster: dict[str, Any], user: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        kubeconfig.from_kubeconfig(_write(tmp_path, cluster, user))
    assert SECRET not in str(caught.value)


def test_missing_or_broken_files_and_contexts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read kubeconfig"):
        kubeconfig.from_kubeconfig(str(tmp_path / "absent"))
    (tmp_path / "bad").write_text("{: nope")
    with pytest.raises(ConfigError, match="not YAML"):
        kubeconfig.from_kubeconfig(str(tmp_path / "bad"))
    path = _write(tmp_path, {"server": "https://api"}, {})
    with pytest.raises(ConfigError, match="no cluster 'nowhere'"):
        kubeconfig.from_kubeconfig(path, context="other")


def test_in_cluster_from_the_service_account(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(SECRET)
    (tmp_path / "ca.crt").write_text("ca")
    environ = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    config = kubeconfig.in_cluster(environ, str(tmp_path))
    assert config.server == "https://[fd00::1]:443"
    assert config.ca_file == str(tmp_path / "ca.crt")
    assert config.bearer_token() == SECRET
    with pytest.raises(ConfigError, match="not in a pod"):
        kubeconfig.in_cluster({}, str(tmp_path))
    with pytest.raises(ConfigError, match="no service account token"):
        kubeconfig.in_cluster(environ, str(tmp_path / "absent"))


@pytest.mark.parametrize(
    ("status", "body", "kind", "reason"),
    [
        (409, {"kind": "Status", "reason": "Conflict", "message": "modified", "code": 409},
         apiclient.Conflict, "Conflict"),
        (409, {"kind": "Status", "reason": "AlreadyExists", "code": 409}, apiclient.Conflict,
         "AlreadyExists"),
        (404, None, apiclient.NotFound, "Unknown"),
        (410, {"kind": "Status", "reason": "Expired", "code": 410}, apiclient.Expired, "Expired"),
        (503, "not json", apiclient.Unavailable, "Unknown"),
        (422, {"kind": "Status", "reason": "Invalid", "code": 422}, apiclient.ApiError, "Invalid"),
        (0, {"kind": "Status", "reason": "Gone", "code": 410}, apiclient.Expired, "Gone"),
    ],
)  # fmt: skip
def test_answers_become_typed_errors(
    status: int, body: Any, kind: type[apiclient.ApiError], reason: str
) -> None:
    error = apiclient.error_from(status, body, "PUT /x")
    assert type(error) is kind
    assert error.reason == reason
    assert str(error).startswith("PUT /x: ")
