"""cyborg.policies.rule_calls evaluates checks exactly as oslo.policy does."""

from typing import Any

import pytest
from oslo_policy import _checks

from cyborg.policies import rule_calls


class NewStyle(_checks.Check):
    """Takes the rule's name, as oslo.policy's own checks do."""

    def __call__(self, target: Any, creds: Any, enforcer: Any, current_rule: Any = None) -> Any:
        return ("new", current_rule)


class Legacy(_checks.Check):
    def __call__(self, target: Any, creds: Any, enforcer: Any) -> Any:
        return ("legacy",)


class InstanceCall:
    """A rule whose ``__call__`` is not a method of its class (inspected every time)."""

    def __init__(self) -> None:
        self.__call__ = lambda target, creds, enforcer: ("plain",)  # type: ignore[method-assign]

    def __call__(self, *args: Any) -> Any:  # never used: the instance's wins for lookup
        return ("class",)


def _rules() -> list[Any]:
    return [
        NewStyle("role", "admin"),
        Legacy("role", "admin"),
        _checks.RoleCheck("role", "admin"),
        _checks.TrueCheck(),
        _checks.OrCheck([_checks.FalseCheck(), _checks.RoleCheck("role", "reader")]),
    ]


@pytest.mark.parametrize("index", range(len(_rules())))
def test_every_check_answers_as_with_oslo_policy(index: int) -> None:
    rule = _rules()[index]
    creds = {"roles": ["reader"]}
    expected = rule_calls._UNCACHED(rule, {}, creds, None, "rule-name")
    for _ in range(2):  # the second from the cache
        assert rule_calls.check(rule, {}, creds, None, "rule-name") == expected


def test_the_name_goes_to_checks_that_take_it_only() -> None:
    assert rule_calls.check(NewStyle("a", "b"), {}, {}, None, "r") == ("new", "r")
    assert rule_calls.check(Legacy("a", "b"), {}, {}, None, "r") == ("legacy",)


def test_a_call_that_is_not_a_method_is_inspected_as_oslo_policy_does() -> None:
    rule = InstanceCall()
    assert rule_calls.check(rule, {}, {}, None, "r") == rule_calls._UNCACHED(
        rule, {}, {}, None, "r"
    )


def test_oslo_policy_uses_it_once_installed() -> None:
    # oslo.policy's _check must keep the signature this replaces.
    assert rule_calls.install()
    assert _checks._check is rule_calls.check
