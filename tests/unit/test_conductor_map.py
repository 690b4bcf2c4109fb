"""tools/conductor_map.py reads the walk a person would take through a bind."""

import importlib.util
import pathlib
import sys

TOOL = pathlib.Path(__file__).resolve().parents[2] / "tools" / "conductor_map.py"


def _tool():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("conductor_map", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["conductor_map"] = module
    spec.loader.exec_module(module)
    return module


def test_the_bind_walk_goes_through_the_binder_into_the_flow() -> None:
    tool = _tool()
    walker = tool.Walker(tool.load(tool.ROOT / "cyborg", tool.ROOT))
    order = [
        key for key, _ in walker.walk(("cyborg.conductor.manager", "ConductorManager.bind_arqs"))
    ]
    assert order[:3] == [
        ("cyborg.conductor.manager", "ConductorManager.bind_arqs"),
        ("cyborg.conductor.binding.binder", "Binder.bind"),
        ("cyborg.conductor.binding.bind_flow", "bind_arqs"),
    ]
    # It follows calls down to the objects and the Placement claimer.
    assert ("cyborg.objects.accelerator_request", "update_state") in order
    assert ("cyborg.conductor.placement.claiming", "group_requests") in order


def test_trips_tell_sideways_from_upward() -> None:
    tool = _tool()
    a, b, c = "m.a", "m.b", "m.c"
    walk = [
        ((a, "f"), ()),
        ((b, "g"), (a,)),
        ((c, "h"), (a, b)),
        ((a, "i"), (a, b, c)),  # back up into a caller's file: upward
        ((c, "j"), (a,)),  # into c again from a, c not a caller: sideways
    ]
    assert tool.trips(walk) == (2, 1, 1)
