"""oslo.policy's evaluation of one check, with its signature looked up once per class.

oslo.policy evaluates every check of a rule through ``oslo_policy._checks._check``,
which inspects the check's ``__call__`` each time to decide whether to pass the rule's
name (newer checks take it, legacy ones do not): about a tenth of an API worker's CPU
for ``GET /v2/devices`` with one device (bench/request_path.py --profile), where two
policies are enforced. The answer depends only on the ``__call__`` function, so it is
kept per function; a callable that is not a plain method is inspected every time, as
oslo.policy does.
"""

import functools
import inspect
import types
from collections.abc import Callable
from typing import Any

from oslo_policy import _checks

# The parameters of the function this replaces; another oslo.policy is left alone.
SIGNATURE = ("rule", "target", "creds", "enforcer", "current_rule")
_UNCACHED: Callable[..., Any] = _checks._check


@functools.lru_cache(maxsize=1024)
def _takes_rule_name(call: Any) -> bool:
    return len(inspect.getfullargspec(call).args) > 4


def check(rule: Any, target: Any, creds: Any, enforcer: Any, current_rule: str | None) -> Any:
    """``oslo_policy._checks._check`` with the signature lookup cached."""
    call = rule.__call__
    if not isinstance(call, types.MethodType):
        return _UNCACHED(rule, target, creds, enforcer, current_rule)
    # A bound method's argspec includes ``self``, as its function's does.
    if _takes_rule_name(call.__func__):
        return rule(target, creds, enforcer, current_rule)
    return rule(target, creds, enforcer)  # oslo.policy's legacy path


def install() -> bool:
    """Make oslo.policy use ``check``; False when its ``_check`` is not the one this
    replaces (the unit test then fails)."""
    if _checks._check is check:
        return True
    if tuple(inspect.signature(_checks._check).parameters) != SIGNATURE:
        return False
    _checks._check = check
    return True
