"""Threads, not eventlet: choose oslo.service's threading backend before it picks one.

oslo.service falls back to eventlet when nothing chose a backend; eventlet is
deprecated across OpenStack and monkey-patching breaks native threads. Every
entry point calls ``use_threading()`` before importing oslo.service or
oslo.messaging machinery.
"""

import warnings

# futurist imports eventlet (a hard dependency of oslo.service) only to detect it,
# and eventlet's import prints a deprecation banner; nothing is monkey-patched.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated", module=r"futurist\.")

from oslo_service import backend  # noqa: E402


def _threading() -> backend.BackendType:
    return backend.BackendType.THREADING


def use_threading() -> None:
    backend.register_backend_default_hook(_threading)
