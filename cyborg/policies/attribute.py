"""Rules for /v2/attributes (deployable attributes such as traits and resource classes)."""

from oslo_policy import policy

from cyborg.policies import base

GET_ALL = "cyborg:attribute:get_all"
GET_ONE = "cyborg:attribute:get_one"
CREATE = "cyborg:attribute:create"
DELETE = "cyborg:attribute:delete"

_COLLECTION = "/v2/attributes"
_ITEM = "/v2/attributes/{uuid}"

_rules = [
    policy.DocumentedRuleDefault(
        name=GET_ALL,
        check_str=base.PROJECT_MANAGER_OR_ADMIN,
        description="List attributes.",
        operations=[{"path": _COLLECTION, "method": "GET"}],
        scope_types=["project"],
        deprecated_rule=base.deprecated(GET_ALL, base.ADMIN_API),
    ),
    policy.DocumentedRuleDefault(
        name=GET_ONE,
        check_str=base.PROJECT_MANAGER_OR_ADMIN,
        description="Show an attribute.",
        operations=[{"path": _ITEM, "method": "GET"}],
        scope_types=["project"],
        deprecated_rule=base.deprecated(GET_ONE, base.ADMIN_API),
    ),
    policy.DocumentedRuleDefault(
        name=CREATE,
        check_str=base.ADMIN_API,
        description="Create an attribute.",
        operations=[{"path": _COLLECTION, "method": "POST"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=DELETE,
        check_str=base.ADMIN_API,
        description="Delete an attribute.",
        operations=[{"path": _ITEM, "method": "DELETE"}],
        scope_types=["project"],
    ),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(_rules)
