"""The ARQ state table (cyborg.common.arq_states): the binding flows take their
compare-and-swap sets from it and the documentation draws it, so it must be whole."""

from cyborg.common import arq_states, constants
from cyborg.common.arq_states import ARQEvent

State = constants.ARQState


def test_every_state_is_entered_and_left() -> None:
    """A state added to ARQState without its transitions fails here (and is not drawn
    with any way in or out)."""
    targets = {t.target for t in arq_states.TRANSITIONS.values()}
    sources = set().union(*(t.sources for t in arq_states.TRANSITIONS.values()))
    for state in State:
        assert state in targets, f"no transition enters {state}"
        assert state in sources, f"no transition leaves {state}"


def test_every_event_has_a_transition() -> None:
    assert set(arq_states.TRANSITIONS) == set(ARQEvent)


def test_only_creation_starts_from_nothing_and_only_deletion_removes() -> None:
    created = [e for e, t in arq_states.TRANSITIONS.items() if not t.sources]
    removed = [e for e, t in arq_states.TRANSITIONS.items() if t.target is None]
    assert created == [ARQEvent.CREATE]
    assert removed == [ARQEvent.DELETED]
    assert arq_states.TRANSITIONS[ARQEvent.CREATE].target == State.INITIAL


def test_binding_rules() -> None:
    """What doc/source/admin/binding.rst's table says, row by row."""
    assert arq_states.sources(ARQEvent.BIND) == {State.INITIAL, State.UNBOUND}
    assert arq_states.sources(ARQEvent.HANDLE_CLAIMED) == {State.BIND_STARTED}
    assert arq_states.sources(ARQEvent.BIND_FAILED) == {State.BIND_STARTED}
    # Unbinding is idempotent (Unbound stays) and never races a deletion.
    unbindable = set(State) - {State.UNBOUND, State.DELETING}
    assert arq_states.sources(ARQEvent.UNBIND) == unbindable
    assert arq_states.sources(ARQEvent.UNBIND_FAILED) == unbindable
    assert arq_states.sources(ARQEvent.DELETE) == set(State)
    assert arq_states.sources(ARQEvent.DELETED) == {State.DELETING}
