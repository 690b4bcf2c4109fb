"""How a handler whose answer has no body (204, 202, an empty 200) is exposed to pecan.

pecan answers 406 to an ``Accept`` header that names none of a handler's content
types, and a bare ``pecan.expose()`` offers only ``text/html``. tempest, and most HTTP
libraries when they speak JSON, send ``Accept: application/json`` on every method,
DELETE and PATCH included, and upstream Cyborg serves them: so these handlers offer
JSON (also what ``*/*`` gets) and HTML, and render nothing either way.
"""

from collections.abc import Callable
from typing import Any, TypeVar

import pecan

Handler = TypeVar("Handler", bound=Callable[..., Any])


def without_body(handler: Handler) -> Handler:
    """``pecan.expose()`` for a handler that returns ``""`` or None."""
    exposed: Handler = pecan.expose(content_type="application/json")(pecan.expose()(handler))
    return exposed
