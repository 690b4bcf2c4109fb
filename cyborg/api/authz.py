"""Policy checks and ownership rules shared by the handlers."""

from cyborg.api import request_state
from cyborg.common import exception
from cyborg.policies import enforcer

DEFAULT_SERVICE_TOKEN_ROLES = ("service",)


def authorize(action: str) -> None:
    """Raise 403 unless the caller may do ``action`` (target: the caller's project)."""
    enforcer.authorize(request_state.conf(), request_state.context(), action)


def is_admin() -> bool:
    return enforcer.check(request_state.conf(), request_state.context(), "admin_api")


def owner_filter() -> str | None:
    """Project whose rows a caller may see: None (all) for administrators."""
    return None if is_admin() else request_state.context().project_id


def require_service_token() -> None:
    """Bound ARQs are Nova's to change: the request must carry a service token.

    The fix of CVE-2026-40214: a user token alone cannot bind, unbind or delete
    bound accelerator requests.
    """
    conf = request_state.conf()
    try:
        wanted = set(conf.keystone_authtoken.service_token_roles)
    except Exception:  # keystonemiddleware's options are registered only with keystone auth
        wanted = set(DEFAULT_SERVICE_TOKEN_ROLES)
    if not wanted & set(request_state.context().service_roles or []):
        raise exception.ServiceTokenRequired()
