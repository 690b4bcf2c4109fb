"""Tests of cyborg.conf: defaults, validation, dynamic groups and the committed sample."""

import pathlib
import subprocess
import sys

import pytest
from oslo_config import cfg

from cyborg import conf as cyborg_conf
from cyborg.conf import gpu_devices, opts

REPO = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = REPO / "etc" / "cyborg" / "cyborg.conf.sample"
GENERATE = REPO / "tools" / "generate-config-sample.py"


@pytest.fixture
def conf() -> cfg.ConfigOpts:
    """A fresh ConfigOpts with our groups, parsed from no files at all."""
    fresh = cfg.ConfigOpts()
    cyborg_conf.register_opts(fresh)
    fresh([], default_config_files=[], default_config_dirs=[], use_env=False)
    return fresh


def test_sample_is_current(tmp_path: pathlib.Path) -> None:
    # A separate process: generation changes library defaults process-wide.
    generated = tmp_path / "cyborg.conf.sample"
    subprocess.run(
        [sys.executable, str(GENERATE), "--output-file", str(generated)],
        check=True,
        cwd=tmp_path,
        capture_output=True,
    )
    assert generated.read_text() == SAMPLE.read_text(), (
        f"{SAMPLE.relative_to(REPO)} is stale; regenerate it with "
        f"`python tools/generate-config-sample.py` and commit the result"
    )


def test_sample_leaks_nothing_of_this_machine() -> None:
    text = SAMPLE.read_text()
    assert "#host = <hostname>" in text
    assert "#resource_provider_name = <fqdn>" in text
    assert "#api_workers = <number of CPUs>" in text
    assert str(REPO) not in text


def test_key_defaults(conf: cfg.ConfigOpts) -> None:
    assert conf.api.port == 6666
    assert conf.api.host_ip == "127.0.0.1"
    assert conf.agent.enabled_drivers == ["fake_driver"]
    assert "cyborg.sqlite" in conf.database.connection
    assert conf.database.connection == "sqlite:////var/lib/cyborg/cyborg.sqlite"
    assert conf.auth_strategy == "keystone"
    assert conf.gpu_devices.filter_sriov_vfs is True


def test_keystoneauth_groups_have_service_defaults(conf: cfg.ConfigOpts) -> None:
    for group, service_type in [
        ("placement", "placement"),
        ("nova", "compute"),
        ("glance", "image"),
    ]:
        assert conf[group].service_type == service_type
        assert conf[group].valid_interfaces == ["internal", "public"]
        assert conf[group].auth_type is None
    assert conf.glance.num_retries == 0
    assert conf.service_user.send_service_user_token is False


def test_register_opts_twice_is_harmless(conf: cfg.ConfigOpts) -> None:
    cyborg_conf.register_opts(conf)
    assert conf.placement.service_type == "placement"


def test_auth_strategy_rejects_unknown_value(conf: cfg.ConfigOpts) -> None:
    conf.set_override("auth_strategy", "noauth")
    assert conf.auth_strategy == "noauth"
    with pytest.raises(ValueError):
        conf.set_override("auth_strategy", "trust-me")


def test_register_dynamic_opts_adds_a_group_per_vgpu_type(conf: cfg.ConfigOpts) -> None:
    conf.set_override("enabled_vgpu_types", ["nvidia-35"], group="gpu_devices")
    gpu_devices.register_dynamic_opts(conf)
    assert conf["vgpu_nvidia-35"].device_addresses == []
    conf.set_override("device_addresses", ["0000:84:00.0"], group="vgpu_nvidia-35")
    assert conf["vgpu_nvidia-35"].device_addresses == ["0000:84:00.0"]


def test_no_vgpu_groups_without_enabled_types(conf: cfg.ConfigOpts) -> None:
    gpu_devices.register_dynamic_opts(conf)
    assert not [name for name in conf if name.startswith("vgpu_")]


def test_parse_args_reads_config_file(tmp_path: pathlib.Path) -> None:
    config_file = tmp_path / "cyborg.conf"
    config_file.write_text(
        "[DEFAULT]\n"
        "host = compute-7\n"
        "debug = true\n"
        "[api]\n"
        "port = 16666\n"
        "[agent]\n"
        "enabled_drivers = nvidia_gpu_driver,pci_driver\n"
        "[database]\n"
        "connection = mysql+pymysql://cyborg:secret@db/cyborg\n"
        "[placement]\n"
        "region_name = RegionTwo\n"
    )
    conf = cfg.ConfigOpts()
    cyborg_conf.parse_args(["cyborg-test"], conf, default_config_files=[str(config_file)])
    assert conf.host == "compute-7"
    assert conf.debug is True
    assert conf.api.port == 16666
    assert conf.agent.enabled_drivers == ["nvidia_gpu_driver", "pci_driver"]
    assert conf.database.connection == "mysql+pymysql://cyborg:secret@db/cyborg"
    assert conf.placement.region_name == "RegionTwo"
    assert conf.oslo_policy.policy_file == "policy.yaml"
    # A second parse of the same object (a reload, or a test reusing it) must work.
    cyborg_conf.parse_args(["cyborg-test", "--debug"], conf, default_config_files=[])
    assert conf.host != "compute-7"
    assert conf.debug is True


def test_parse_args_rejects_invalid_value(tmp_path: pathlib.Path) -> None:
    config_file = tmp_path / "cyborg.conf"
    config_file.write_text("[DEFAULT]\nauth_strategy = trust-me\n")
    conf = cfg.ConfigOpts()
    cyborg_conf.parse_args(["cyborg-test"], conf, default_config_files=[str(config_file)])
    with pytest.raises(ValueError):
        _ = conf.auth_strategy


def test_list_opts_puts_default_first_then_sorted() -> None:
    names = [g.name if isinstance(g, cfg.OptGroup) else g for g, _ in opts.list_opts()]
    assert names[0] == "DEFAULT"
    assert names[1:] == sorted(names[1:])
    assert len(names) == len(set(names))
    assert not [name for name in names if name.startswith("vgpu_")]


def test_config_objects_do_not_share_values(conf: cfg.ConfigOpts) -> None:
    conf.set_override("port", 7777, group="api")
    conf.set_default("enabled_drivers", ["pci_driver"], group="agent")
    other = cfg.ConfigOpts()
    cyborg_conf.register_opts(other)
    other([], default_config_files=[], default_config_dirs=[], use_env=False)
    assert other.api.port == 6666
    assert other.agent.enabled_drivers == ["fake_driver"]
