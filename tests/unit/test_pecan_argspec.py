"""cyborg.api.pecan_argspec answers exactly as pecan's own lookup, and pecan uses it."""

import functools
from typing import Any

import pecan
import pecan.util
import pytest

from cyborg.api import pecan_argspec
from cyborg.api.controllers import root


def _decorated(function: Any) -> Any:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    return wrapper


class Controller:
    @pecan.expose("json")
    def get_all(self, name: str = "", **kwargs: Any) -> dict[str, Any]:
        return {}

    @_decorated
    def get_one(self, uuid: str, *rest: str) -> None:
        return None

    @staticmethod
    def helper(value: int) -> int:
        return value


def _callables() -> list[Any]:
    controller = Controller()
    return [
        controller.get_all,
        Controller.get_all,
        controller.get_one,
        Controller.helper,
        root.RootController().index,
        lambda request, *args: None,
    ]


@pytest.mark.parametrize("index", range(len(_callables())))
def test_the_cached_answer_is_pecans(index: int) -> None:
    method = _callables()[index]
    expected = pecan_argspec._UNCACHED(method)
    assert tuple(pecan_argspec.getargspec(method)) == tuple(expected)
    assert tuple(pecan_argspec.getargspec(method)) == tuple(expected)  # from the cache


def test_a_bound_method_is_looked_up_by_its_function() -> None:
    pecan_argspec._of_function.cache_clear()
    for _ in range(3):
        pecan_argspec.getargspec(Controller().get_all)  # a new bound method each time
    info = pecan_argspec._of_function.cache_info()
    assert (info.misses, info.hits) == (1, 2)


def test_an_unhashable_callable_is_answered_uncached() -> None:
    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self, request: Any) -> None:
            return None

    spec = pecan_argspec.getargspec(Unhashable())
    assert tuple(spec) == tuple(pecan_argspec._UNCACHED(Unhashable()))


def test_pecan_uses_it_once_installed() -> None:
    pecan_argspec.install()
    for module in pecan_argspec.USERS:
        # pecan must still import the lookup by name where this replaces it.
        assert module.getargspec is pecan_argspec.getargspec, module.__name__
    assert pecan.util.getargspec is pecan_argspec._UNCACHED
