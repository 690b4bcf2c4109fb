"""Policy in code: the base personas and one module of rules per API resource.

``list_rules`` is the ``oslo.policy.policies`` entry point ``cyborg.api``, read by
oslopolicy-sample-generator and the other oslopolicy tools.
"""

from oslo_policy import policy

from cyborg.policies import (
    accelerator_request,
    attribute,
    base,
    deployable,
    device,
    device_profile,
    graph,
    job,
    plan,
)

_MODULES = [
    base,
    accelerator_request,
    device_profile,
    device,
    deployable,
    attribute,
    graph,
    plan,
    job,
]


def list_rules() -> list[policy.RuleDefault]:
    """Every rule Cyborg registers, base rules first."""
    return [rule for module in _MODULES for rule in module.list_rules()]
