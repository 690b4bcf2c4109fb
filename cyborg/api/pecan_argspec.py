"""pecan's signature lookups, answered once per controller function.

pecan inspects the signature of the controllers on a request's route on every request
(``pecan.util.getargspec``: 6 or 7 times for ``GET /v2/devices``), and its compat layer
builds a new namedtuple class each time: about a fifth of an API worker's CPU for a
one-device GET (bench/request_path.py --profile). A function's signature never changes,
so the answer is kept per function; a bound method is looked up by its function, whose
argspec is the same (``inspect.getfullargspec`` keeps ``self``, and pecan's own lookup
goes through ``__func__``).
"""

import functools
import types
from collections.abc import Callable
from typing import Any

import pecan.core
import pecan.decorators
import pecan.rest
import pecan.routing
import pecan.util

# The modules that imported ``getargspec`` from pecan.util by name.
USERS = (pecan.core, pecan.decorators, pecan.rest, pecan.routing)
_UNCACHED: Callable[[Any], Any] = pecan.util.getargspec


@functools.lru_cache(maxsize=4096)
def _of_function(function: Any) -> Any:
    return _UNCACHED(function)


def getargspec(method: Any) -> Any:
    """``pecan.util.getargspec(method)``, computed once per function."""
    function = method.__func__ if isinstance(method, types.MethodType) else method
    try:
        return _of_function(function)
    except TypeError:  # an unhashable callable: not cached
        return _UNCACHED(method)


def install() -> None:
    """Make pecan use the cached lookup (idempotent). A module of a later pecan that no
    longer holds pecan.util's lookup by name is left alone (the unit test says so)."""
    for module in USERS:
        if getattr(module, "getargspec", None) is _UNCACHED:
            module.getargspec = getargspec
