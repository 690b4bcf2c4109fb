"""Rules for /v2/device_profiles: any project may read them, only admins define them."""

from oslo_policy import policy

from cyborg.policies import base

GET_ALL = "cyborg:device_profile:get_all"
GET_ONE = "cyborg:device_profile:get_one"
CREATE = "cyborg:device_profile:create"
DELETE = "cyborg:device_profile:delete"

_COLLECTION = "/v2/device_profiles"
_ITEM = "/v2/device_profiles/{device_profile_uuid_or_name}"

_rules = [
    policy.DocumentedRuleDefault(
        name=GET_ALL,
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="List device profiles.",
        operations=[{"path": _COLLECTION, "method": "GET"}],
        scope_types=["project"],
        deprecated_rule=base.deprecated(GET_ALL, base.ADMIN_OR_OWNER),
    ),
    policy.DocumentedRuleDefault(
        name=GET_ONE,
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="Show a device profile.",
        operations=[{"path": _ITEM, "method": "GET"}],
        scope_types=["project"],
        deprecated_rule=base.deprecated(GET_ONE, base.ADMIN_OR_OWNER),
    ),
    policy.DocumentedRuleDefault(
        name=CREATE,
        check_str=base.ADMIN_API,
        description="Create a device profile.",
        operations=[{"path": _COLLECTION, "method": "POST"}],
        scope_types=["project"],
        deprecated_rule=base.deprecated(CREATE, base.IS_ADMIN),
    ),
    policy.DocumentedRuleDefault(
        name=DELETE,
        check_str=base.ADMIN_API,
        description=(
            "Delete device profiles: one by UUID, or several by a comma-separated list "
            "of names in the path or in ?value=."
        ),
        operations=[
            {"path": _ITEM, "method": "DELETE"},
            {"path": _COLLECTION, "method": "DELETE"},
        ],
        scope_types=["project"],
        deprecated_rule=base.deprecated(DELETE, base.IS_ADMIN),
    ),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(_rules)
