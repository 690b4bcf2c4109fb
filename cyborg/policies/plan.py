"""Rules for scheduler plans (microversion 2.5): planned, read, claimed and measured
by the project that owns the graph."""

from oslo_policy import policy

from cyborg.policies import base

CREATE = "cyborg:plan:create"
GET = "cyborg:plan:get"
GET_ALL = "cyborg:plan:get_all"
CLAIM = "cyborg:plan:claim"
MEASURE = "cyborg:plan:measure"

_ITEM = "/v2/plans/{uuid}"

_rules = [
    policy.DocumentedRuleDefault(
        name=CREATE,
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Plan a graph on the free accelerators (ranked plans).",
        operations=[{"path": "/v2/graphs/{uuid}/plans", "method": "POST"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=GET,
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="Show a plan (as JSON, or from microversion 2.7 as a picture).",
        operations=[{"path": _ITEM, "method": "GET"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=GET_ALL,
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="List plans (microversion 2.7): the project's, or every project's "
        "for an administrator.",
        operations=[{"path": "/v2/plans", "method": "GET"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=CLAIM,
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Claim a plan's devices: one bound accelerator request per device.",
        operations=[{"path": f"{_ITEM}/claim", "method": "POST"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=MEASURE,
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Report a measured step time of a plan (updates learned factors).",
        operations=[{"path": f"{_ITEM}/measurements", "method": "POST"}],
        scope_types=["project"],
    ),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(_rules)
