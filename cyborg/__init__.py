"""Cyborg-NG: accelerator management for OpenStack clouds.

Importing any part of Cyborg first selects oslo.service's threading backend
(cyborg.common.concurrency), the one place that does: whatever imports oslo.service
or oslo.messaging afterwards, in a service, a tool, a test or a benchmark, gets
threads, never eventlet.
"""

from cyborg.common import concurrency as _concurrency

_concurrency.use_threading()
