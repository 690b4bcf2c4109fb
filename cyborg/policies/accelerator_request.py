"""Rules for /v2/accelerator_requests (ARQs).

The target is the caller's own project; the DB layer limits non-admins to their
project's ARQs. Nova creates, binds and deletes ARQs with the service role.
"""

from oslo_policy import policy

from cyborg.policies import base

GET_ALL = "cyborg:arq:get_all"
GET_ONE = "cyborg:arq:get_one"
CREATE = "cyborg:arq:create"
UPDATE = "cyborg:arq:update"
DELETE = "cyborg:arq:delete"

_COLLECTION = "/v2/accelerator_requests"
_ITEM = "/v2/accelerator_requests/{uuid}"

_rules = [
    policy.DocumentedRuleDefault(
        name=GET_ALL,
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="List accelerator requests.",
        operations=[{"path": _COLLECTION, "method": "GET"}],
        scope_types=["project"],
        deprecated_rule=base.deprecated(GET_ALL, base.ADMIN_OR_OWNER),
    ),
    policy.DocumentedRuleDefault(
        name=GET_ONE,
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="Show an accelerator request.",
        operations=[{"path": _ITEM, "method": "GET"}],
        scope_types=["project"],
        deprecated_rule=base.deprecated(GET_ONE, base.ADMIN_OR_OWNER),
    ),
    policy.DocumentedRuleDefault(
        name=CREATE,
        check_str=base.PROJECT_MEMBER_OR_SERVICE,
        description="Create accelerator requests.",
        operations=[{"path": _COLLECTION, "method": "POST"}],
        scope_types=["project"],
        deprecated_rule=base.deprecated(CREATE, base.PROJECT_MEMBER_OR_ADMIN),
    ),
    policy.DocumentedRuleDefault(
        name=UPDATE,
        check_str=base.PROJECT_MEMBER_OR_SERVICE,
        description="Bind or unbind accelerator requests.",
        operations=[{"path": _COLLECTION, "method": "PATCH"}],
        scope_types=["project"],
        deprecated_rule=base.deprecated(UPDATE, base.ADMIN_OR_OWNER),
    ),
    policy.DocumentedRuleDefault(
        name=DELETE,
        check_str=base.PROJECT_MEMBER_OR_SERVICE,
        description="Delete accelerator requests: by UUIDs (?arqs=) or by instance (?instance=).",
        operations=[{"path": _COLLECTION, "method": "DELETE"}],
        scope_types=["project"],
        deprecated_rule=base.deprecated(DELETE, base.ADMIN_OR_OWNER),
    ),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(_rules)
