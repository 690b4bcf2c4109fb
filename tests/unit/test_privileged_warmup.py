"""The agent starts its privileged helper at start-up only when binds will need it."""

import logging
from typing import Any

import pytest
from oslo_config import cfg

import cyborg.conf
from cyborg.agent import privileged, privileged_warmup
from cyborg.conf import gpu_devices

VGPU = {("gpu_devices", "enabled_vgpu_types"): ["nvidia-223"]}


def _conf(overrides: dict[tuple[str, str], Any] | None = None) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([], project="cyborg", default_config_files=[])
    for (group, name), value in (overrides or {}).items():
        conf.set_override(name, value, group)
    gpu_devices.register_dynamic_opts(conf)
    return conf


class Context:
    """privileged.context's start/channel, recorded."""

    def __init__(self, error: Exception | None = None) -> None:
        self.channel: Any = None
        self.starts = 0
        self.error = error

    def start(self) -> None:
        self.starts += 1
        if self.error is not None:
            raise self.error
        self.channel = object()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, False),
        (VGPU, True),
        ({("kubernetes", "mig_partitions"): True}, False),  # without DRA nothing partitions
        (
            {("kubernetes", "mig_partitions"): True, ("kubernetes", "dra_enabled"): True},
            True,
        ),
    ],
    ids=["nothing", "vgpu-types", "mig-without-dra", "dra-mig"],
)
def test_needed_only_for_vgpu_types_or_dra_mig_partitions(
    overrides: dict[tuple[str, str], Any], expected: bool
) -> None:
    assert privileged_warmup.needed(_conf(overrides)) is expected


def test_an_agent_without_privileged_binds_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    context = Context()
    monkeypatch.setattr(privileged, "context", context)
    assert privileged_warmup.start_in_background(_conf()) is None
    assert context.starts == 0


def test_the_helper_starts_once_on_its_own_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    context = Context()
    monkeypatch.setattr(privileged, "context", context)
    thread = privileged_warmup.start_in_background(_conf(VGPU))
    assert thread is not None
    thread.join(60)
    assert context.starts == 1 and context.channel is not None


def test_a_helper_that_cannot_start_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    context = Context(OSError("sudo: a password is required"))
    monkeypatch.setattr(privileged, "context", context)
    with caplog.at_level(logging.INFO, logger="cyborg.agent.privileged_warmup"):
        privileged_warmup._start()
    assert context.starts == 1
    assert "did not start ([cyborg_privileged] helper_command)" in caplog.text
    assert "Privileged helper started" not in caplog.text
