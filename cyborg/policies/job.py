"""Rules for cluster-scheduling jobs (microversion 2.9): queued, read and cancelled by
the project that owns them."""

from oslo_policy import policy

from cyborg.policies import base

CREATE = "cyborg:job:create"
GET = "cyborg:job:get"
GET_ALL = "cyborg:job:get_all"
DELETE = "cyborg:job:delete"

_COLLECTION = "/v2/jobs"
_ITEM = "/v2/jobs/{uuid}"

_rules = [
    policy.DocumentedRuleDefault(
        name=CREATE,
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Queue a cluster-scheduling job.",
        operations=[{"path": _COLLECTION, "method": "POST"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=GET,
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="Show a job, with its allocation once it has one.",
        operations=[{"path": _ITEM, "method": "GET"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=GET_ALL,
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="List jobs: the project's, or every project's for an administrator.",
        operations=[{"path": _COLLECTION, "method": "GET"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=DELETE,
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Cancel a queued or allocated job.",
        operations=[{"path": _ITEM, "method": "DELETE"}],
        scope_types=["project"],
    ),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(_rules)
