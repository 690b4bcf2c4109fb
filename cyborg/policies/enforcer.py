"""The policy enforcer, and the two calls handlers use: ``authorize`` and ``check``.

There is one Enforcer per ConfigOpts, so tests and in-process services with their own
configuration never share loaded rules.
"""

import threading
from typing import Any

from oslo_config import cfg
from oslo_context import context as oslo_context
from oslo_policy import policy

from cyborg import conf as cyborg_conf
from cyborg import policies
from cyborg.common import exception
from cyborg.conf import opts
from cyborg.policies import rule_calls

# id(conf) -> (conf, enforcer). Holding the conf keeps its id from being reused.
_ENFORCERS: dict[int, tuple[cfg.ConfigOpts, policy.Enforcer]] = {}
_LOCK = threading.Lock()


def get_enforcer(conf: cfg.ConfigOpts) -> policy.Enforcer:
    """The Enforcer of ``conf``, with every Cyborg rule registered.

    Rules from the policy file are loaded by oslo.policy on first use and reloaded
    when the file changes.
    """
    with _LOCK:
        cached = _ENFORCERS.get(id(conf))
        if cached is not None:
            return cached[1]
        rule_calls.install()
        enforcer = policy.Enforcer(conf)
        enforcer.register_defaults(policies.list_rules())
        _ENFORCERS[id(conf)] = (conf, enforcer)
        return enforcer


def reset() -> None:
    """Forget every Enforcer (for tests)."""
    with _LOCK:
        _ENFORCERS.clear()


def get_enforcer_for_generator() -> policy.Enforcer:
    """The ``oslo.policy.enforcer`` entry point, for the oslopolicy-* tools.

    Those tools parse their own command line, so CONF gets none of it; it still reads
    /etc/cyborg/cyborg.conf to find the operator's policy file.
    """
    conf = cfg.CONF
    cyborg_conf.register_opts(conf)
    opts.set_lib_defaults(conf)
    # ``config_file`` exists only once CONF has been parsed; never parse it twice.
    if "config_file" not in conf:
        conf([], project="cyborg")
    return get_enforcer(conf)


def _default_target(context: oslo_context.RequestContext) -> dict[str, Any]:
    # The caller's own project: ownership of resources is enforced by the DB layer.
    return {"project_id": context.project_id, "user_id": context.user_id}


def _credentials(context: oslo_context.RequestContext) -> dict[str, Any]:
    creds = dict(context.to_policy_values())
    # The legacy rules test ``is_admin:True``, which upstream derives from the token's
    # admin role; oslo.context's policy values do not carry it.
    creds["is_admin"] = bool(context.is_admin or "admin" in (context.roles or []))
    return creds


def authorize(
    conf: cfg.ConfigOpts,
    context: oslo_context.RequestContext,
    action: str,
    target: dict[str, Any] | None = None,
) -> None:
    """Raise PolicyNotAuthorized (403) unless ``context`` may perform ``action``.

    A token of the wrong scope (system or domain) is refused the same way.
    """
    target = _default_target(context) if target is None else target
    try:
        get_enforcer(conf).authorize(
            action,
            target,
            _credentials(context),
            do_raise=True,
            exc=exception.PolicyNotAuthorized,
            action=action,
        )
    except (policy.PolicyNotAuthorized, policy.InvalidScope) as err:
        raise exception.PolicyNotAuthorized(action=action) from err


def check(
    conf: cfg.ConfigOpts,
    context: oslo_context.RequestContext,
    action: str,
    target: dict[str, Any] | None = None,
) -> bool:
    """Whether ``context`` may perform ``action``; for handlers that only adapt output."""
    target = _default_target(context) if target is None else target
    return bool(get_enforcer(conf).authorize(action, target, _credentials(context)))
