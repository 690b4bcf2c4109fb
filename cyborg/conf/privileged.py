"""Options of the [cyborg_privileged] group: the agent's oslo.privsep daemon.

oslo.privsep owns these options (``oslo_privsep.priv_context.OPTS``): the agent's
context (cyborg.agent.privileged) registers them on the global configuration, with
Cyborg's capabilities, when the agent first needs the daemon. They are listed here so
that the sample config shows them with Cyborg's defaults, and no service registers
them otherwise: importing oslo.privsep imports eventlet, which only the agent's
privileged work may pay for.
"""

import copy

from oslo_config import cfg

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
# Linux capability numbers (linux/capability.h), as oslo_privsep.capabilities names them.
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
CAP_SYS_ADMIN = 21
CAPABILITIES = [CAP_SYS_ADMIN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH]
SAMPLE_CAPABILITIES = "CAP_SYS_ADMIN,CAP_DAC_OVERRIDE,CAP_DAC_READ_SEARCH"


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Nothing: the agent's privsep context registers the group on the global
    configuration itself (see the module's docstring)."""


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    from oslo_privsep import priv_context  # the sample generator only

    opts = copy.deepcopy(priv_context.OPTS)
    for opt in opts:
        if opt.dest == "capabilities":
            opt.default = CAPABILITIES
            opt.sample_default = SAMPLE_CAPABILITIES
    return {GROUP: opts}
