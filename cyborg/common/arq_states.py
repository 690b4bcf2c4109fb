"""The accelerator request state machine as data: each event, the states it moves an
ARQ from, and the state it moves it to.

The binding flows take their compare-and-swap ``expected`` sets from here, and the
documentation draws its state diagram from it (doc/source/_ext/cyborg_diagrams.py),
so the picture and the code cannot drift apart.
"""

import dataclasses
import enum

from cyborg.common.constants import ARQState


class ARQEvent(enum.StrEnum):
    CREATE = "create"
    BIND = "bind"
    HANDLE_CLAIMED = "handle claimed"
    BIND_FAILED = "bind failed"
    UNBIND = "unbind"
    UNBIND_FAILED = "unbind failed"
    DELETE = "delete"
    DELETED = "deleted"


@dataclasses.dataclass(frozen=True)
class Transition:
    sources: frozenset[ARQState]  # empty: the ARQ does not exist yet
    target: ARQState | None  # None: the row is removed
    trigger: str  # what makes it happen, as the API and the flows say it


_ALL = frozenset(ARQState)

TRANSITIONS: dict[ARQEvent, Transition] = {
    ARQEvent.CREATE: Transition(frozenset(), ARQState.INITIAL, "POST, one per accelerator"),
    ARQEvent.BIND: Transition(
        frozenset({ARQState.INITIAL, ARQState.UNBOUND}), ARQState.BIND_STARTED, "PATCH add"
    ),
    # Also taken by another conductor that takes an abandoned bind over.
    ARQEvent.HANDLE_CLAIMED: Transition(
        frozenset({ARQState.BIND_STARTED}), ARQState.BOUND, "attach handle claimed"
    ),
    ARQEvent.BIND_FAILED: Transition(
        frozenset({ARQState.BIND_STARTED}), ARQState.BIND_FAILED, "no free handle, device gone"
    ),
    # Unbound ARQs are left as they are: unbinding is idempotent.
    ARQEvent.UNBIND: Transition(
        _ALL - {ARQState.UNBOUND, ARQState.DELETING}, ARQState.UNBOUND, "PATCH remove"
    ),
    ARQEvent.UNBIND_FAILED: Transition(
        _ALL - {ARQState.UNBOUND, ARQState.DELETING},
        ARQState.UNBIND_FAILED,
        "releasing the allocation failed",
    ),
    # One already Deleting is taken over (a deleter that died half-way left it).
    ARQEvent.DELETE: Transition(_ALL, ARQState.DELETING, "DELETE"),
    ARQEvent.DELETED: Transition(
        frozenset({ARQState.DELETING}), None, "allocations released, handles freed"
    ),
}


def sources(event: ARQEvent) -> frozenset[ARQState]:
    """The states ``event`` moves an ARQ from (the ``expected`` of its compare-and-swap)."""
    return TRANSITIONS[event].sources
