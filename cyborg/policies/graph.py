"""Rules for /v2/graphs (microversion 2.5): a project's own model graphs."""

from oslo_policy import policy

from cyborg.policies import base

GET_ALL = "cyborg:graph:get_all"
GET_ONE = "cyborg:graph:get_one"
CREATE = "cyborg:graph:create"

_COLLECTION = "/v2/graphs"
_ITEM = "/v2/graphs/{uuid}"

_rules = [
    policy.DocumentedRuleDefault(
        name=GET_ALL,
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="List the project's graphs.",
        operations=[{"path": _COLLECTION, "method": "GET"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=GET_ONE,
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="Show a graph and its analysis.",
        operations=[{"path": _ITEM, "method": "GET"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=CREATE,
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Upload a graph (the JSON graph format or an ONNX model).",
        operations=[{"path": _COLLECTION, "method": "POST"}],
        scope_types=["project"],
    ),
]


def list_rules() -> list[policy.RuleDefault]:
    return list(_rules)
