"""The Kubernetes guide's manifests: every YAML document under deploy/kubernetes/ and
in the guide's yaml code blocks is what the API servers of 1.34 to 1.37 accept
(strict), its CEL selects the devices it says, and the agent's DaemonSet mounts what
the [kubernetes] options point to."""

import configparser
import pathlib
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import yaml
from oslo_config import cfg

import cyborg.conf
from cyborg.conf import kubernetes as kubernetes_conf
from cyborg.kubernetes import fpga_bitstreams
from tests.kubernetes import schemas
from tests.kubernetes.dra_allocation import DOMAIN, allocations, slice_device

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
GUIDES = sorted((ROOT / "doc" / "source" / "admin").glob("kubernetes*.rst"))
_CODE_BLOCK = re.compile(r"^(\s*)\.\. (?:code-block|code|sourcecode):: yaml\s*$")


def yaml_blocks(text: str) -> Iterator[tuple[int, str]]:
    """(line, text) of each ``.. code-block:: yaml`` of an rst text, dedented."""
    lines = text.splitlines()
    for number, line in enumerate(lines):
        start = _CODE_BLOCK.match(line)
        if not start:
            continue
        block: list[str] = []
        for following in lines[number + 1 :]:
            indented = len(following) - len(following.lstrip())
            if following.strip() and indented <= len(start.group(1)):
                break
            block.append(following)
        body = [b for b in block if b.strip() and not b.lstrip().startswith(":")]
        indent = min((len(b) - len(b.lstrip()) for b in body), default=0)
        yield number + 1, "\n".join(b[indent:] for b in block if not b.lstrip().startswith(":"))


def _documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(DEPLOY.rglob("*.yaml")):
        for k, document in enumerate(yaml.safe_load_all(path.read_text())):
            if document is not None:
                found.append((f"{path.relative_to(ROOT)}#{k}", document))
    for guide in GUIDES:
        for line, block in yaml_blocks(guide.read_text()):
            for k, document in enumerate(yaml.safe_load_all(block)):
                if document is not None:
                    # No ":" in a test id: gabbi's pytest plugin takes those for its own.
                    found.append((f"{guide.relative_to(ROOT)}-line{line}#{k}", document))
    return found


DOCUMENTS = _documents()


def _of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for _, d in DOCUMENTS if d.get("kind") == kind]


def _one(kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in _of_kind(kind) if d["metadata"]["name"] == name]
    return found


def test_the_guide_and_deploy_have_manifests() -> None:
    kinds = {d["kind"] for _, d in DOCUMENTS}
    assert {"DaemonSet", "ClusterRole", "ClusterRoleBinding", "ServiceAccount", "ConfigMap",
            "DeviceClass", "ResourceClaim", "ResourceClaimTemplate", "Pod"} <= kinds  # fmt: skip
    assert any(where.startswith("doc/") for where, _ in DOCUMENTS)


@pytest.mark.parametrize("where, document", DOCUMENTS, ids=[w for w, _ in DOCUMENTS])
def test_every_manifest_is_valid_in_every_release(where: str, document: dict[str, Any]) -> None:
    # A fragment cannot be checked: show it in a literal block (::), not as yaml.
    assert isinstance(document, dict) and {"apiVersion", "kind"} <= set(document), (
        f"{where}: a yaml block or file must hold whole objects (apiVersion, kind)"
    )
    schemas.validate(document)


def test_yaml_blocks_are_read_whole() -> None:
    text = ".. code-block:: yaml\n   :caption: x\n\n   a: 1\n   b:\n     c: 2\n\nAfter\n"
    assert [yaml.safe_load(b) for _, b in yaml_blocks(text)] == [{"a": 1, "b": {"c": 2}}]


# DeviceClasses and claims against sample devices.

GPU = slice_device("0000:1b:00.0", "H100-SXM5-80GB", pcie_root="pci0000:1a")
MIG = slice_device(
    "0000:1c:00.0", "H100-SXM5-80GB", deployable="node1_0000:1c:00.0_mig_1_0", memory="10Gi"
)
# A partition as cyborg.kubernetes.mig_slices publishes it (mig_partitions).
PARTITION_DRIVER, PARTITION = slice_device("0000:1f:00.0", "H100-SXM5-80GB", memory="9984Mi")
PARTITION = {
    **PARTITION,
    "name": "pci-0000-1f-00-0-mig-1g-10gb-3",
    "attributes": {
        **PARTITION["attributes"],
        "migProfile": {"string": "1g.10gb"},
        "migProfileId": {"int": 19},
        "migPlacementStart": {"int": 3},
    },
}
FPGA = slice_device("0000:1d:00.0", "PAC-A10", device_type="FPGA", pcie_root="pci0000:1a")
SSD = slice_device("0000:12:00.0", "P5800X", device_type="SSD")
SAMPLES = {"gpu": GPU, "mig": MIG, "partition": (PARTITION_DRIVER, PARTITION), "fpga": FPGA,
           "nvme": SSD}  # fmt: skip
CLASSES = {d["metadata"]["name"]: d for d in _of_kind("DeviceClass")}
#: Which samples each class selects.
EXPECTED = {
    f"gpu.{DOMAIN}": {"gpu", "mig", "partition"},
    f"fpga.{DOMAIN}": {"fpga"},
    f"nvme.{DOMAIN}": {"nvme"},
    f"mig.gpu.{DOMAIN}": {"mig", "partition"},
    f"gpu-extended-resource.{DOMAIN}": {"gpu", "mig", "partition"},
}


def test_every_device_class_is_tested() -> None:
    assert set(CLASSES) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_device_class_selects_its_devices(name: str) -> None:
    selectors = CLASSES[name]["spec"]["selectors"]
    selected = {
        sample
        for sample, device in SAMPLES.items()
        if all(schemas.cel_matches(s["cel"]["expression"], *device) for s in selectors)
    }
    assert selected == EXPECTED[name]


def test_extended_resource_class_names_the_device_plugin_s_resource() -> None:
    (extended,) = [c for c in CLASSES.values() if "extendedResourceName" in c["spec"]]
    assert extended["spec"]["extendedResourceName"] == f"{DOMAIN}/gpu"


def _claim_specs() -> list[tuple[str, dict[str, Any]]]:
    specs = [(c["metadata"]["name"], c["spec"]) for c in _of_kind("ResourceClaim")]
    specs += [
        (t["metadata"]["name"], t["spec"]["spec"]) for t in _of_kind("ResourceClaimTemplate")
    ]
    return specs


@pytest.mark.parametrize("name, spec", _claim_specs(), ids=[n for n, _ in _claim_specs()])
def test_example_claims_can_be_allocated(name: str, spec: dict[str, Any]) -> None:
    node = [
        GPU,
        slice_device("0000:1e:00.0", "H100-SXM5-80GB", pcie_root="pci0000:1a"),
        slice_device("0000:3b:00.0", "A100-SXM4-80GB", deployable="node1_0000:3b:00.0"),
        slice_device("0000:5e:00.0", "A100-SXM4-80GB", deployable="node1_0000:5e:00.0"),
        (PARTITION_DRIVER, PARTITION),
        FPGA,
        SSD,
    ]
    assert allocations(spec, CLASSES, node), f"{name}: nothing on the sample node fits"


def test_fpga_claim_passes_a_bitstream_to_the_fpga_driver() -> None:
    (config,) = _one("ResourceClaim", "fpga-with-bitstream")["spec"]["devices"]["config"]
    assert config["opaque"]["driver"] == f"fpga.{DOMAIN}"
    # What the FPGA plugin's prepare reads: it must take this config as it is.
    bitstream = fpga_bitstreams.parse(config["opaque"]["parameters"])
    assert bitstream.image


def test_pods_name_claims_that_exist() -> None:
    claims = {c["metadata"]["name"] for c in _of_kind("ResourceClaim")}
    templates = {t["metadata"]["name"] for t in _of_kind("ResourceClaimTemplate")}
    pod_specs = [p["spec"] for p in _of_kind("Pod")]
    pod_specs += [d["spec"]["template"]["spec"] for d in _of_kind("Deployment")]
    for spec in pod_specs:
        pod_claims = {c["name"] for c in spec.get("resourceClaims", [])}
        for claim in spec.get("resourceClaims", []):
            assert claim.get("resourceClaimName", "?") in claims or (
                claim.get("resourceClaimTemplateName") in templates
            )
        for container in spec["containers"]:
            for used in container.get("resources", {}).get("claims", []):
                assert used["name"] in pod_claims


def test_claims_name_device_classes_that_exist() -> None:
    for name, spec in _claim_specs():
        for request in spec["devices"]["requests"]:
            for exact in request.get("firstAvailable", [request.get("exactly")]):
                assert exact["deviceClassName"] in CLASSES, name


# The agent's DaemonSet, its RBAC and its configuration.

DAEMONSET = _one("DaemonSet", "cyborg-agent")
POD = DAEMONSET["spec"]["template"]["spec"]
(AGENT,) = POD["containers"]


def _host_mounts() -> dict[str, str]:
    """{container path: host path} of the agent's hostPath mounts."""
    host_paths = {v["name"]: v["hostPath"]["path"] for v in POD["volumes"] if "hostPath" in v}
    return {m["mountPath"]: host_paths[m["name"]] for m in AGENT["volumeMounts"]
            if m["name"] in host_paths}  # fmt: skip


def _path_defaults() -> dict[str, str]:
    return {
        opt.name: opt.default
        for opt in kubernetes_conf.OPTS
        if isinstance(opt.default, str) and opt.default.startswith("/")
    }


def test_kubernetes_options_have_path_defaults() -> None:
    assert {"device_plugin_dir", "cdi_spec_dir"} <= set(_path_defaults())


@pytest.mark.parametrize("option, path", sorted(_path_defaults().items()))
def test_daemonset_mounts_what_the_options_point_to(option: str, path: str) -> None:
    mounted = _host_mounts()
    covering = [m for m in mounted if path == m or path.startswith(m.rstrip("/") + "/")]
    assert covering, f"[kubernetes] {option} = {path} is not under a hostPath mount"
    assert all(mounted[m] == m for m in covering), "the host path must be the same path inside"


def test_daemonset_mounts_the_kubelet_sysfs_devices_and_cdi() -> None:
    mounted = _host_mounts()
    kubelet = ("/var/lib/kubelet/plugins", "/var/lib/kubelet/plugins_registry",
               "/var/lib/kubelet/device-plugins", "/var/lib/kubelet/pod-resources")  # fmt: skip
    for path in (*kubelet, "/sys", "/dev", "/etc/cdi", "/var/run/cdi"):
        assert mounted.get(path) == path
    assert AGENT["securityContext"]["privileged"] is True


def test_daemonset_runs_as_the_bound_service_account() -> None:
    account = POD["serviceAccountName"]
    namespace = DAEMONSET["metadata"]["namespace"]
    _one("ServiceAccount", account)
    binding = _one("ClusterRoleBinding", "cyborg-agent")
    assert {"kind": "ServiceAccount", "name": account, "namespace": namespace} in binding[
        "subjects"
    ]
    role = _one("ClusterRole", binding["roleRef"]["name"])
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    slice_verbs = ("create", "update", "patch", "delete", "get", "list", "watch")
    needed = {("resource.k8s.io", "resourceslices", v) for v in slice_verbs}
    needed |= {("resource.k8s.io", "resourceclaims", v) for v in ("get", "list", "watch")}
    needed |= {("", "nodes", "get")}
    assert needed <= granted


def _config_map() -> Mapping[str, str]:
    (volume,) = [v for v in POD["volumes"] if "configMap" in v]
    return _one("ConfigMap", volume["configMap"]["name"])["data"]


def test_daemonset_secrets_exist() -> None:
    for variable in AGENT["env"]:
        ref = variable.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["key"] in _one("Secret", ref["name"])["stringData"]


def test_agent_config_is_cyborg_s(tmp_path: pathlib.Path) -> None:
    """The ConfigMap's cyborg.conf names options that exist, with values they take."""
    path = tmp_path / "cyborg.conf"
    path.write_text(_config_map()["cyborg.conf"])
    conf = cfg.ConfigOpts()
    cyborg.conf.parse_args(["cyborg-agent", "--config-file", str(path)], conf=conf)
    sections = configparser.ConfigParser()
    sections.read(path)
    for group in ("agent", "kubernetes"):  # [cyborg_privileged] is oslo.privsep's
        for key in sections[group]:
            assert key in conf[group], f"[{group}] {key} is no option"
            getattr(conf[group], key)  # raises on a value of the wrong type
    assert conf.kubernetes.device_plugin_enabled is True
    mounted = {m["mountPath"] for m in AGENT["volumeMounts"] if m["name"] == "config"}
    assert AGENT["command"][-1] == f"{mounted.pop()}/cyborg.conf"
