"""Options of the [cyborg_privileged] group: the agent's oslo.privsep daemon.

oslo.privsep owns these options (``oslo_privsep.priv_context.OPTS``); the agent's
context (cyborg.agent.privileged) reads them from this group. They are listed here
so that the sample config shows them with Cyborg's defaults.
"""

import copy

from oslo_config import cfg
from oslo_privsep import capabilities as caps
from oslo_privsep import priv_context

GROUP = cfg.OptGroup(
    "cyborg_privileged",
    title="Privileged daemon options",
    help="The oslo.privsep daemon through which cyborg-agent runs the FPGA programming "
    "tools (fpgaconf, xbmgmt) as root. By default the agent starts it with "
    "'sudo privsep-helper --config-file ...'; set helper_command to start it otherwise, "
    "for example without sudo when the agent already runs as root.",
)

# What the daemon process keeps. The programming tools open the FPGA management
# devices and PCI sysfs files (/dev/dfl-fme.*, /dev/intel-fpga-fme.*, /dev/xclmgmt*,
# .../config, .../reset), which are root-only: CAP_DAC_OVERRIDE. They read the
# bitstream the unprivileged agent downloaded (mode 0600, owned by the agent's user):
# CAP_DAC_READ_SEARCH. Partial reconfiguration and flashing go through ioctls and PCI
# config writes that the drivers guard with CAP_SYS_ADMIN. The tools themselves are
# started as root, so the allow-list in cyborg.agent.privileged is what keeps the
# daemon from being a general root shell, not this list.
CAPABILITIES = [caps.CAP_SYS_ADMIN, caps.CAP_DAC_OVERRIDE, caps.CAP_DAC_READ_SEARCH]
SAMPLE_CAPABILITIES = "CAP_SYS_ADMIN,CAP_DAC_OVERRIDE,CAP_DAC_READ_SEARCH"


def register_opts(conf: cfg.ConfigOpts) -> None:
    # The library's own option objects, as its PrivContext registers them on cfg.CONF:
    # registering the same objects twice is harmless.
    conf.register_opts(priv_context.OPTS, group=GROUP.name)
    conf.set_default("capabilities", CAPABILITIES, group=GROUP.name)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    opts = copy.deepcopy(priv_context.OPTS)
    for opt in opts:
        if opt.dest == "capabilities":
            opt.default = CAPABILITIES
            opt.sample_default = SAMPLE_CAPABILITIES
    return {GROUP: opts}
