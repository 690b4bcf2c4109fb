"""Base rules: the personas every API rule is built from, plus the legacy rules.

API rules refer to these by the ``rule:`` constants below, so an operator who
redefines, say, ``project_reader_api`` in policy.yaml changes every rule built on it.
"""

from oslo_policy import policy

# The release that deprecated the pre-persona rules; used by every deprecated bridge.
DEPRECATED_SINCE = "2026.2"

ADMIN_API = "rule:admin_api"
PROJECT_ADMIN_API = "rule:project_admin_api"
PROJECT_MEMBER_API = "rule:project_member_api"
PROJECT_READER_API = "rule:project_reader_api"
PROJECT_MANAGER_API = "rule:project_manager_api"
SERVICE_API = "rule:service_api"
PROJECT_MEMBER_OR_ADMIN = "rule:project_member_or_admin"
PROJECT_READER_OR_ADMIN = "rule:project_reader_or_admin"
PROJECT_MANAGER_OR_ADMIN = "rule:project_manager_or_admin"
PROJECT_MEMBER_OR_SERVICE = "rule:project_member_or_service"

# Legacy rules, kept only as the check strings of deprecated bridges.
IS_ADMIN = "rule:is_admin"
ADMIN_OR_OWNER = "rule:admin_or_owner"
ADMIN_OR_USER = "rule:admin_or_user"

_LEGACY_REASON = (
    "Cyborg's API rules now use the admin, manager, member, reader and service "
    "personas with project scope; this rule is only referenced by deprecated bridges "
    "and will be removed together with them."
)

_personas = [
    policy.RuleDefault(
        "admin_api", "role:admin", description="Default rule for administrative APIs."
    ),
    policy.RuleDefault(
        "project_admin_api",
        "role:admin and project_id:%(project_id)s",
        description="An administrator of the target project.",
    ),
    policy.RuleDefault(
        "project_member_api",
        "role:member and project_id:%(project_id)s",
        description="A member of the target project.",
    ),
    policy.RuleDefault(
        "project_reader_api",
        "role:reader and project_id:%(project_id)s",
        description="A reader of the target project.",
    ),
    policy.RuleDefault(
        "project_manager_api",
        "role:manager and project_id:%(project_id)s",
        description="A manager of the target project.",
    ),
    policy.RuleDefault(
        "service_api",
        "role:service",
        description="Another OpenStack service, such as Nova, calling on a user's behalf.",
    ),
    policy.RuleDefault(
        "project_member_or_admin",
        f"{PROJECT_MEMBER_API} or {ADMIN_API}",
        description="A member of the target project, or an administrator.",
    ),
    policy.RuleDefault(
        "project_reader_or_admin",
        f"{PROJECT_READER_API} or {ADMIN_API}",
        description="A reader of the target project, or an administrator.",
    ),
    policy.RuleDefault(
        "project_manager_or_admin",
        f"{PROJECT_MANAGER_API} or {ADMIN_API}",
        description="A manager of the target project, or an administrator.",
    ),
    policy.RuleDefault(
        "project_member_or_service",
        f"{PROJECT_MEMBER_API} or {SERVICE_API}",
        description="A member of the target project, or another OpenStack service.",
    ),
]


def _legacy(name: str, check_str: str, description: str) -> policy.RuleDefault:
    return policy.RuleDefault(
        name,
        check_str,
        description=description,
        deprecated_for_removal=True,
        deprecated_reason=_LEGACY_REASON,
        deprecated_since=DEPRECATED_SINCE,
    )


# Upstream still registers these; policy files written for older releases name them.
_legacy_rules = [
    _legacy("public_api", "is_public_api:True", "Internal flag for public API routes."),
    _legacy("allow", "@", "Any request."),
    _legacy("deny", "!", "No request."),
    _legacy("default", ADMIN_OR_OWNER, "Rule for requests that name no registered rule."),
    _legacy("is_admin", ADMIN_API, "Legacy alias of admin_api."),
    _legacy(
        "admin_or_owner",
        "is_admin:True or project_id:%(project_id)s",
        "An administrator, or a user of the target project.",
    ),
    _legacy(
        "admin_or_user",
        "is_admin:True or user_id:%(user_id)s",
        "An administrator, or the target user.",
    ),
]


_BRIDGE_REASON = (
    "Cyborg's API rules moved to the admin, manager, member, reader and service "
    "personas with project scope. The old default is still honoured while "
    "[oslo_policy] enforce_new_defaults is False."
)


def deprecated(name: str, check_str: str) -> policy.DeprecatedRule:
    """The pre-persona default of API rule ``name``, honoured as a bridge."""
    return policy.DeprecatedRule(
        name, check_str, deprecated_reason=_BRIDGE_REASON, deprecated_since=DEPRECATED_SINCE
    )


def list_rules() -> list[policy.RuleDefault]:
    return [*_personas, *_legacy_rules]
