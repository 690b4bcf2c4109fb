"""Rules for /v2/devices: hardware inventory is for managers and admins only."""

from oslo_policy import policy

from cyborg.policies import base

GET_ALL = "cyborg:device:get_all"
GET_ONE = "cyborg:device:get_one"
DISABLE = "cyborg:device:disable"
ENABLE = "cyborg:device:enable"

_rules = [
    policy.DocumentedRuleDefault(
        name=GET_ALL,
        check_str=base.PROJECT_MANAGER_OR_ADMIN,
        description="List devices.",
        operations=[{"path": "/v2/devices", "method": "GET"}],
        scope_types=["project"],
        deprecated_rule=base.deprecated(GET_ALL, base.ADMIN_API),
    ),
    policy.DocumentedRuleDefault(
        name=GET_ONE,
        check_str=base.PROJECT_MANAGER_OR_ADMIN,
        description="Show a device.",
        operations=[{"path": "/v2/devices/{uuid}", "method": "GET"}],
        scope_types=["project"],
        deprecated_rule=base.deprecated(GET_ONE, base.ADMIN_API),
    ),
    # No bridge: these were admin-only before the personas too.
    policy.DocumentedRuleDefault(
        name=DISABLE,
        check_str=base.ADMIN_API,
        description="Disable a device: stop scheduling new accelerators on it.",
        operations=[{"path": "/v2/devices/{uuid}/disable", "method": "POST"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=ENABLE,
        check_str=base.ADMIN_API,
        description="Enable a disabled device.",
        operations=[{"path": "/v2/devices/{uuid}/enable", "method": "POST"}],
        scope_types=["project"],
    ),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(_rules)
