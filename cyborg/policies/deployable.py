"""Rules for /v2/deployables; reprogramming an FPGA is for admins only."""

from oslo_policy import policy

from cyborg.policies import base

GET_ALL = "cyborg:deployable:get_all"
GET_ONE = "cyborg:deployable:get_one"
PROGRAM = "cyborg:deployable:program"
GET_HOLDERS = "cyborg:deployable:get_holders"

_rules = [
    policy.DocumentedRuleDefault(
        name=GET_ALL,
        check_str=base.PROJECT_MANAGER_OR_ADMIN,
        description="List deployables.",
        operations=[{"path": "/v2/deployables", "method": "GET"}],
        scope_types=["project"],
        deprecated_rule=base.deprecated(GET_ALL, base.ADMIN_API),
    ),
    policy.DocumentedRuleDefault(
        name=GET_ONE,
        check_str=base.PROJECT_MANAGER_OR_ADMIN,
        description="Show a deployable.",
        operations=[{"path": "/v2/deployables/{uuid}", "method": "GET"}],
        scope_types=["project"],
        deprecated_rule=base.deprecated(GET_ONE, base.ADMIN_API),
    ),
    policy.DocumentedRuleDefault(
        name=PROGRAM,
        check_str=base.ADMIN_API,
        description="Program a deployable (an FPGA) with a bitstream.",
        operations=[{"path": "/v2/deployables/{uuid}/program", "method": "PATCH"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=GET_HOLDERS,
        check_str=base.ADMIN_API,
        description="See who holds a deployable's devices (microversion 2.6): the "
        "instance, or the pod's ResourceClaim. Others see only whether a VM or a pod "
        "holds each.",
        operations=[
            {"path": "/v2/deployables", "method": "GET"},
            {"path": "/v2/deployables/{uuid}", "method": "GET"},
        ],
        scope_types=["project"],
    ),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(_rules)
