"""Where the Kubernetes API server is and how to prove who we are to it.

Two sources, as client-go reads them: a kubeconfig file (its current context's
cluster and user: server URL, CA, bearer token or token file, or a client
certificate and key, inline ``*-data`` or as paths relative to the file), or the
in-cluster service account (``KUBERNETES_SERVICE_HOST``/``_PORT`` and the token and
CA under /var/run/secrets/kubernetes.io/serviceaccount). Exec and auth-provider
plugins are not supported: the agent says so instead of failing later.

Inline certificates and keys are written to files of a private directory (requests
takes paths); ``ClusterConfig.close`` removes them. No secret appears in a message.
"""

import base64
import binascii
import dataclasses
import os
import shutil
import tempfile
from typing import Any

import yaml

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class ConfigError(Exception):
    """A kubeconfig or in-cluster setup the client cannot use (the message says why)."""


@dataclasses.dataclass
class ClusterConfig:
    server: str  # "https://10.0.0.1:6443"
    ca_file: str | None = None  # None: the system's CAs
    verify: bool = True  # False: insecure-skip-tls-verify
    token: str | None = None
    token_file: str | None = None  # reread on each call: service account tokens rotate
    cert_file: str | None = None
    key_file: str | None = None
    scratch_dir: str | None = None  # holds the files written from *-data

    def __repr__(self) -> str:  # never the token
        return f"ClusterConfig(server={self.server!r})"

    def bearer_token(self) -> str | None:
        if self.token_file:
            try:
                with open(self.token_file) as handle:
                    return handle.read().strip() or None
            except OSError as err:
                raise ConfigError(f"cannot read the token file {self.token_file}: "
                                  f"{err.strerror}") from None  # fmt: skip
        return self.token

    def close(self) -> None:
        if self.scratch_dir:
            shutil.rmtree(self.scratch_dir, ignore_errors=True)
            self.scratch_dir = None


def in_cluster(
    environ: dict[str, str] | None = None, account_dir: str = SERVICE_ACCOUNT_DIR
) -> ClusterConfig:
    """The service account's view of the cluster, as a pod sees it."""
    environ = dict(os.environ) if environ is None else environ
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ConfigError("not in a pod (KUBERNETES_SERVICE_HOST/PORT unset) and no "
                          "[kubernetes] kubeconfig given")  # fmt: skip
    token_file = os.path.join(account_dir, "token")
    if not os.path.exists(token_file):
        raise ConfigError(f"no service account token at {token_file}")
    host = f"[{host}]" if ":" in host else host  # an IPv6 service address
    ca_file = os.path.join(account_dir, "ca.crt")
    return ClusterConfig(
        server=f"https://{host}:{port}",
        ca_file=ca_file if os.path.exists(ca_file) else None,
        token_file=token_file,
    )


def _named(document: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    for entry in document.get(f"{kind}s") or ():
        if isinstance(entry, dict) and entry.get("name") == name:
            found = entry.get(kind)
            if isinstance(found, dict):
                return found
    raise ConfigError(f"the kubeconfig has no {kind} {name!r}")


class _Files:
    """Paths for a kubeconfig's entries: relative to the file, or written from data."""

    def __init__(self, base_dir: str) -> None:
        self.base_dir = base_dir
        self.scratch_dir: str | None = None

    def path(self, section: dict[str, Any], key: str) -> str | None:
        data = section.get(f"{key}-data")
        if data:
            try:
                content = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise ConfigError(f"the kubeconfig's {key}-data is not base64") from None
            if self.scratch_dir is None:
                self.scratch_dir = tempfile.mkdtemp(prefix="cyborg-kube-")  # mode 0700
            path = os.path.join(self.scratch_dir, key)
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
                out.write(content)
            return path
        value = section.get(key)
        return os.path.join(self.base_dir, value) if value else None


def from_kubeconfig(path: str, context: str | None = None) -> ClusterConfig:
    """The cluster and user of ``context`` (default: the current context)."""
    try:
        with open(path) as handle:
            document = yaml.safe_load(handle)
    except OSError as err:
        raise ConfigError(f"cannot read kubeconfig {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"kubeconfig {path} is not YAML: {err}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"kubeconfig {path} is not a kubeconfig")
    name = context or document.get("current-context")
    if not name:
        raise ConfigError(f"kubeconfig {path} has no current-context")
    chosen = _named(document, "context", name)
    cluster = _named(document, "cluster", chosen.get("cluster", ""))
    user = _named(document, "user", chosen.get("user", "")) if chosen.get("user") else {}
    if "exec" in user or "auth-provider" in user:
        raise ConfigError(f"kubeconfig {path}: exec and auth-provider credentials are not "
                          "supported; give a token or a client certificate")  # fmt: skip
    if not cluster.get("server"):
        raise ConfigError(f"kubeconfig {path}: cluster of context {name!r} has no server")
    files = _Files(os.path.dirname(os.path.abspath(path)))
    try:
        config = ClusterConfig(
            server=str(cluster["server"]).rstrip("/"),
            ca_file=files.path(cluster, "certificate-authority"),
            verify=not cluster.get("insecure-skip-tls-verify", False),
            token=user.get("token"),
            token_file=files.path(user, "tokenFile") if user.get("tokenFile") else None,
            cert_file=files.path(user, "client-certificate"),
            key_file=files.path(user, "client-key"),
        )
    except BaseException:
        if files.scratch_dir:
            shutil.rmtree(files.scratch_dir, ignore_errors=True)
        raise
    config.scratch_dir = files.scratch_dir
    if bool(config.cert_file) != bool(config.key_file):
        config.close()
        raise ConfigError(f"kubeconfig {path}: a client certificate needs its key")
    return config
