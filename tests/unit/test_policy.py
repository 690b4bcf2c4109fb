"""Policy defaults: the committed sample, the persona matrix, bridges and the enforcer."""

import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator

import pytest
from oslo_config import cfg

from cyborg import conf as cyborg_conf
from cyborg import policies
from cyborg.common import context as cyborg_context
from cyborg.common import exception
from cyborg.conf import opts
from cyborg.policies import enforcer

REPO = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = REPO / "etc" / "cyborg" / "policy.yaml.sample"
GENERATOR_CONF = REPO / "etc" / "cyborg" / "cyborg-policy-generator.conf"
BIN = pathlib.Path(os.path.dirname(sys.executable))

# Every target is the caller's project in the API; here it is fixed to p1.
TARGET = {"project_id": "p1", "user_id": "u1"}


def _context(roles: list[str], project_id: str | None) -> cyborg_context.RequestContext:
    return cyborg_context.RequestContext(
        user_id="u1", project_id=project_id, roles=roles, overwrite=False
    )


PERSONAS = {
    "admin": _context(["admin", "member", "reader", "manager"], "p1"),
    "manager": _context(["manager", "member", "reader"], "p1"),
    "member": _context(["member", "reader"], "p1"),
    "reader": _context(["reader"], "p1"),
    "service": _context(["service"], "service-project"),
    "other_member": _context(["member", "reader"], "p2"),
    "no_roles": _context([], "p1"),
}

READERS = {"admin", "manager", "member", "reader"}  # project_reader_or_admin
MEMBERS_OR_SERVICE = {"admin", "manager", "member", "service"}  # project_member_or_service
MEMBERS = {"admin", "manager", "member"}  # project_member_or_admin
MANAGERS = {"admin", "manager"}  # project_manager_or_admin
ADMINS = {"admin"}  # admin_api

# rule -> personas allowed with enforce_new_defaults=True (reference §7.1).
EXPECTED = {
    "cyborg:arq:get_all": READERS,
    "cyborg:arq:get_one": READERS,
    "cyborg:arq:create": MEMBERS_OR_SERVICE,
    "cyborg:arq:update": MEMBERS_OR_SERVICE,
    "cyborg:arq:delete": MEMBERS_OR_SERVICE,
    "cyborg:device_profile:get_all": READERS,
    "cyborg:device_profile:get_one": READERS,
    "cyborg:device_profile:create": ADMINS,
    "cyborg:device_profile:delete": ADMINS,
    "cyborg:device:get_all": MANAGERS,
    "cyborg:device:get_one": MANAGERS,
    "cyborg:device:disable": ADMINS,
    "cyborg:device:enable": ADMINS,
    "cyborg:deployable:get_all": MANAGERS,
    "cyborg:deployable:get_one": MANAGERS,
    "cyborg:deployable:program": ADMINS,
    "cyborg:deployable:get_holders": ADMINS,
    "cyborg:attribute:get_all": MANAGERS,
    "cyborg:attribute:get_one": MANAGERS,
    "cyborg:attribute:create": ADMINS,
    "cyborg:attribute:delete": ADMINS,
    "cyborg:graph:get_all": READERS,
    "cyborg:graph:get_one": READERS,
    "cyborg:graph:create": MEMBERS,
    "cyborg:plan:create": MEMBERS,
    "cyborg:plan:get": READERS,
    "cyborg:plan:get_all": READERS,
    "cyborg:plan:claim": MEMBERS,
    "cyborg:plan:measure": MEMBERS,
    "cyborg:job:create": MEMBERS,
    "cyborg:job:get": READERS,
    "cyborg:job:get_all": READERS,
    "cyborg:job:delete": MEMBERS,
}


def _api_rule_names() -> set[str]:
    return {rule.name for rule in policies.list_rules() if rule.name.startswith("cyborg:")}


@pytest.fixture
def conf(tmp_path: pathlib.Path) -> Iterator[cfg.ConfigOpts]:
    """A ConfigOpts enforcing the new defaults, with no policy file to read."""
    fresh = cfg.ConfigOpts()
    cyborg_conf.register_opts(fresh)
    opts.set_lib_defaults(fresh)
    fresh([], project="cyborg", default_config_files=[], default_config_dirs=[], use_env=False)
    fresh.set_override("enforce_new_defaults", True, "oslo_policy")
    fresh.set_override("policy_file", str(tmp_path / "absent-policy.yaml"), "oslo_policy")
    fresh.set_override("policy_dirs", [], "oslo_policy")
    yield fresh
    enforcer.reset()


def test_sample_is_current(tmp_path: pathlib.Path) -> None:
    generated = tmp_path / "policy.yaml.sample"
    subprocess.run(
        [
            str(BIN / "oslopolicy-sample-generator"),
            "--config-file",
            str(GENERATOR_CONF),
            "--output-file",
            str(generated),
        ],
        check=True,
        capture_output=True,
    )
    assert '"cyborg:arq:get_all"' in generated.read_text(), (
        "namespace cyborg.api not found; run `.venv/bin/pip install --no-deps -e .`"
    )
    assert generated.read_text() == SAMPLE.read_text(), (
        f"{SAMPLE.relative_to(REPO)} is stale; run tools/generate-policy-sample.sh"
    )


def test_persona_matrix_covers_every_api_rule() -> None:
    assert set(EXPECTED) == _api_rule_names()


def test_persona_matrix(conf: cfg.ConfigOpts) -> None:
    actual = {
        rule: {name for name, ctx in PERSONAS.items() if enforcer.check(conf, ctx, rule, TARGET)}
        for rule in EXPECTED
    }
    wrong = [
        f"{rule}: unexpectedly allowed {sorted(actual[rule] - allowed)}, "
        f"unexpectedly denied {sorted(allowed - actual[rule])}"
        for rule, allowed in EXPECTED.items()
        if actual[rule] != allowed
    ]
    assert not wrong, "\n".join(wrong)


def test_deprecated_bridges_apply_until_new_defaults_are_enforced(
    conf: cfg.ConfigOpts,
) -> None:
    plain_admin = _context(["admin"], "p2")
    cases = [
        # (persona, rule, allowed with new defaults only, allowed with the bridge)
        (plain_admin, "cyborg:arq:create", False, True),  # rule:project_member_or_admin
        (PERSONAS["reader"], "cyborg:arq:update", False, True),  # rule:admin_or_owner
        (PERSONAS["no_roles"], "cyborg:device_profile:get_one", False, True),
        (PERSONAS["other_member"], "cyborg:arq:get_all", False, False),  # not the owner
        (PERSONAS["manager"], "cyborg:device:disable", False, False),  # no bridge
    ]
    new_only = [enforcer.check(conf, ctx, rule, TARGET) for ctx, rule, _, _ in cases]

    legacy = cfg.ConfigOpts()
    cyborg_conf.register_opts(legacy)
    opts.set_lib_defaults(legacy)
    legacy([], default_config_files=[], default_config_dirs=[], use_env=False)
    legacy.set_override("enforce_new_defaults", False, "oslo_policy")
    legacy.set_override("policy_file", conf.oslo_policy.policy_file, "oslo_policy")
    legacy.set_override("policy_dirs", [], "oslo_policy")
    # oslo.policy tells operators which defaults are changing, once per load.
    with pytest.warns(UserWarning, match="was deprecated in 2026.2"):
        bridged = [enforcer.check(legacy, ctx, rule, TARGET) for ctx, rule, _, _ in cases]

    assert new_only == [case[2] for case in cases]
    assert bridged == [case[3] for case in cases]


def test_authorize_raises_403_naming_the_action(conf: cfg.ConfigOpts) -> None:
    enforcer.authorize(conf, PERSONAS["admin"], "cyborg:device:disable")
    with pytest.raises(exception.PolicyNotAuthorized) as raised:
        enforcer.authorize(conf, PERSONAS["member"], "cyborg:device:disable")
    assert raised.value.code == 403
    assert "cyborg:device:disable" in str(raised.value)


def test_authorize_targets_the_callers_project_by_default(conf: cfg.ConfigOpts) -> None:
    enforcer.authorize(conf, PERSONAS["other_member"], "cyborg:arq:get_all")
    with pytest.raises(exception.PolicyNotAuthorized):
        enforcer.authorize(conf, PERSONAS["other_member"], "cyborg:arq:get_all", TARGET)


def test_system_scoped_tokens_are_refused(conf: cfg.ConfigOpts) -> None:
    system_admin = cyborg_context.RequestContext(
        user_id="u1", roles=["admin"], system_scope="all", overwrite=False
    )
    assert enforcer.check(conf, system_admin, "cyborg:device:get_all") is False
    with pytest.raises(exception.PolicyNotAuthorized) as raised:
        enforcer.authorize(conf, system_admin, "cyborg:device:get_all")
    assert raised.value.code == 403


def test_check_returns_bools(conf: cfg.ConfigOpts) -> None:
    assert enforcer.check(conf, PERSONAS["reader"], "cyborg:device_profile:get_all") is True
    assert enforcer.check(conf, PERSONAS["reader"], "cyborg:device_profile:create") is False


def test_one_enforcer_per_conf(conf: cfg.ConfigOpts) -> None:
    other = cfg.ConfigOpts()
    assert enforcer.get_enforcer(conf) is enforcer.get_enforcer(conf)
    assert enforcer.get_enforcer(other) is not enforcer.get_enforcer(conf)


def test_rules_are_documented() -> None:
    rules = policies.list_rules()
    assert [rule.name for rule in rules if not rule.description] == []
    api_rules = [rule for rule in rules if rule.name.startswith("cyborg:")]
    assert [rule.name for rule in api_rules if not getattr(rule, "operations", None)] == []
    assert [rule.name for rule in api_rules if rule.scope_types != ["project"]] == []


def test_generator_enforcer_keeps_the_tools_command_line(tmp_path: pathlib.Path) -> None:
    # oslopolicy-list-redundant parses its own --config-file before loading our
    # enforcer; the policy file named there must be the one read.
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"cyborg:arq:get_all": "rule:project_reader_or_admin"\n')
    config_file = tmp_path / "cyborg.conf"
    config_file.write_text(f"[oslo_policy]\npolicy_file = {policy_file}\n")
    result = subprocess.run(
        [
            str(BIN / "oslopolicy-list-redundant"),
            "--namespace",
            "cyborg",
            "--config-file",
            str(config_file),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.stdout.strip() == '"cyborg:arq:get_all": "rule:project_reader_or_admin"'
