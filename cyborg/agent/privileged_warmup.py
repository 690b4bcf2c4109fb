"""Start the privileged helper while the agent starts, when binds will need it.

oslo.privsep starts its root daemon on first use. For an agent with vGPU types (or
Kubernetes MIG partitions) that first use is a bind: the conductor waits for it
(``[agent] mdev_timeout``), and a helper that is slow to start, or cannot start
(a missing sudo rule), fails that bind. Starting it beside the agent's start-up moves
the wait out of the first bind and reports a helper that cannot start at once.
"""

import threading

from oslo_config import cfg
from oslo_log import log

LOG = log.getLogger(__name__)


def needed(conf: cfg.ConfigOpts) -> bool:
    """Whether this agent's binds or claims will run privileged operations."""
    return bool(conf.gpu_devices.enabled_vgpu_types) or bool(
        conf.kubernetes.dra_enabled and conf.kubernetes.mig_partitions
    )


def start_in_background(conf: cfg.ConfigOpts) -> threading.Thread | None:
    """Start the helper on a thread of its own when ``needed``; the thread, or None."""
    if not needed(conf):
        return None
    thread = threading.Thread(target=_start, name="privileged-helper", daemon=True)
    thread.start()
    return thread


def _start() -> None:
    from cyborg.agent import privileged  # its import registers privsep's options

    try:
        if privileged.context.channel is None:
            privileged.context.start()
    except Exception:
        LOG.exception(
            "The privileged helper did not start ([cyborg_privileged] helper_command); "
            "vGPU binds will try it again and fail until it does"
        )
        return
    LOG.info("Privileged helper started")
