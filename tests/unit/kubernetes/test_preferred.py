"""GetPreferredAllocation's choice, as a pure function."""

from cyborg.kubernetes.devices import PluginDevice
from cyborg.kubernetes.preferred import preferred


def _devices(*specs: tuple[str, int | None, tuple[str, ...]]) -> dict[str, PluginDevice]:
    return {
        i: PluginDevice(i, "x/gpu", "GPU", i, numa_node=n, nvlink_peers=frozenset(p))
        for i, n, p in specs
    }


EIGHT = _devices(
    ("a", 0, ("b",)), ("b", 0, ("a",)), ("c", 0, ()), ("d", 0, ()),
    ("e", 1, ("f", "g", "h")), ("f", 1, ("e", "g", "h")), ("g", 1, ("e", "f", "h")),
    ("h", 1, ("e", "f", "g")),
)  # fmt: skip


def test_a_whole_request_on_one_node_beats_splitting() -> None:
    assert sorted(preferred(list("abcefg"), [], 3, EIGHT)) == ["e", "f", "g"]


def test_nvlink_peers_come_first_within_a_node() -> None:
    assert preferred(list("dcba"), [], 2, EIGHT) == ["a", "b"]


def test_must_include_decides_the_node_and_comes_first() -> None:
    assert preferred(list("abcdefgh"), ["c"], 2, EIGHT)[0] == "c"
    assert preferred(list("abcdefgh"), ["c"], 2, EIGHT)[1] in {"a", "b", "d"}
    assert preferred(list("abcdefgh"), ["e"], 4, EIGHT) == ["e", "f", "g", "h"]


def test_a_request_larger_than_a_node_spills_over() -> None:
    chosen = preferred(list("abcdefgh"), [], 6, EIGHT)
    assert len(chosen) == 6 and {"e", "f", "g", "h"} <= set(chosen)


def test_size_at_or_below_must_include_and_short_supply() -> None:
    assert preferred(list("abc"), ["b", "a"], 2, EIGHT) == ["b", "a"]
    assert preferred(list("abc"), ["b", "a"], 1, EIGHT) == ["b"]
    assert preferred(list("ab"), [], 5, EIGHT) == ["a", "b"]
    assert preferred([], [], 0, EIGHT) == []


def test_unknown_ids_and_no_topology_keep_the_kubelets_order() -> None:
    assert preferred(["z", "y", "x"], [], 2, {}) == ["x", "y"]  # sorted, stable
