"""Plan pictures: the timeline a plan stores, the layered layout and the SVG drawn from
them. Structure, not pixels: the SVG is parsed and its elements counted and read."""

import xml.etree.ElementTree as ET

from cyborg.scheduler import synthetic, timeline
from cyborg.scheduler.costs import build_cost_model
from cyborg.scheduler.drawing import layout, picture
from cyborg.scheduler.evaluate import Evaluator
from cyborg.scheduler.graph import Edge, Graph, Node
from tests.scheduler.helpers import hand_model

NS = {"svg": "http://www.w3.org/2000/svg"}


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _all(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def _two_devices_timeline() -> dict:
    """n1 (2 s) on d0 sends 1 byte (1 s) to n2 (3 s) on d1; n3 (1 s) follows n1 on d0."""
    model = hand_model([[2, 9], [9, 3], [1, 9]], [(0, 1, 1.0), (0, 2, 0.0)])
    return timeline.step_timeline(model, [0, 1, 0], [0, 1, 2])


def test_the_timeline_is_the_list_schedule_on_paper() -> None:
    got = _two_devices_timeline()
    assert got["step_s"] == 6.0
    d0, d1 = got["devices"]
    assert (d0["id"], d1["id"]) == ("d0", "d1")
    assert d0["compute"] == [[0.0, 2.0, "n1", 1], [2.0, 3.0, "n3", 1]]
    assert d0["send"] == [[2.0, 3.0, "n1 -> n2", 1]] and d0["receive"] == []
    assert d1["receive"] == [[2.0, 3.0, "n1 -> n2", 1]] and d1["send"] == []
    assert d1["compute"] == [[3.0, 6.0, "n2", 1]]


def test_the_timeline_step_is_the_estimate() -> None:
    graph = synthetic.random_dag(60, 5)
    devices = synthetic.device_set(["H100-SXM5-80GB", "A100-SXM4-80GB", "T4"])
    model = build_cost_model(graph, devices)
    assignment = [i % 3 for i in range(len(graph))]
    got = timeline.step_timeline(model, assignment, graph.topo)
    assert got["step_s"] == Evaluator(model).latency_of(assignment, graph.topo)
    load, _ = Evaluator(model).loads(assignment)
    for d, device in enumerate(got["devices"]):
        assert sum(bar[3] for bar in device["compute"]) == assignment.count(d)
        # A merged bar spans the sub-pixel gaps between the nodes it holds.
        busy = sum(end - start for start, end, _, _ in device["compute"])
        slack = len(device["compute"]) * got["step_s"] / timeline.RESOLUTION
        assert load[d] - 1e-12 <= busy <= load[d] + slack


def test_a_long_timeline_is_merged_to_what_a_picture_shows() -> None:
    graph = synthetic.random_dag(10000, 3)
    devices = synthetic.device_set(["H100-SXM5-80GB"] * 3)
    model = build_cost_model(graph, devices)
    assignment = [min(i * 3 // len(graph), 2) for i in range(len(graph))]
    got = timeline.step_timeline(model, assignment, graph.topo)
    for d, device in enumerate(got["devices"]):
        for kind in timeline.KINDS:
            assert len(device[kind]) <= 2 * timeline.RESOLUTION + 1, (d, kind)
        # Merged bars still count every node they hold.
        assert sum(bar[3] for bar in device["compute"]) == assignment.count(d)
    assert any(bar[2].endswith(" nodes") for d in got["devices"] for bar in d["compute"])


def _result(graph: Graph, placement: dict[str, str], devices: list[str], tl: dict | None) -> dict:
    nodes = {d: list(placement.values()).count(d) for d in devices}
    return {
        "devices": [{"id": d, "model": "A100", "host": "h", "nodes": nodes[d]} for d in devices],
        "placement": placement,
        "timeline": tl,
    }


def _hand_graph() -> Graph:
    return Graph(
        [Node("n1", "MatMul"), Node("n2", "MatMul"), Node("n3", "Add")],
        [Edge("n1", "n2", 1.0), Edge("n1", "n3")],
        "hand",
    )


def test_every_node_is_drawn_in_its_device_colour() -> None:
    graph = _hand_graph()
    placement = {"n1": "d0", "n2": "d1", "n3": "d0"}
    root = _parse(picture.plan_svg(graph, _result(graph, placement, ["d0", "d1"], None), "t"))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    colours = picture.device_colours(["d0", "d1"])
    assert colours["d0"] != colours["d1"]
    nodes = _all(root, "node")
    assert sorted(n.get("data-node") for n in nodes) == ["n1", "n2", "n3"]
    for node in nodes:
        assert node.get("data-device") == placement[node.get("data-node")]
        rect = node.find("svg:rect", NS)
        assert rect is not None and rect.get("fill") == colours[placement[node.get("data-node")]]
    assert len(_all(root, "edge")) == 2
    legend = _all(root, "legend-item")
    assert [item.get("data-device") for item in legend] == ["d0", "d1"]
    assert [item.find("svg:rect", NS).get("fill") for item in legend] == [  # type: ignore[union-attr]
        colours["d0"],
        colours["d1"],
    ]
    assert any(
        "No timeline" in (t.text or "") for t in root.iter("{http://www.w3.org/2000/svg}text")
    )


def test_a_node_without_a_device_is_grey() -> None:
    graph = _hand_graph()
    root = _parse(picture.plan_svg(graph, _result(graph, {"n1": "d0"}, ["d0"], None), "t"))
    fills = {n.get("data-node"): n.find("svg:rect", NS).get("fill") for n in _all(root, "node")}  # type: ignore[union-attr]
    assert fills["n2"] == fills["n3"] == picture.UNPLACED != fills["n1"]


def test_each_device_row_has_its_bars_and_idle_gaps() -> None:
    graph = _hand_graph()
    placement = {"n1": "d0", "n2": "d1", "n3": "d0"}
    tl = _two_devices_timeline()
    root = _parse(picture.plan_svg(graph, _result(graph, placement, ["d0", "d1"], tl), "t"))
    rows = {row.get("data-device"): row for row in _all(root, "device-row")}
    assert sorted(rows) == ["d0", "d1"]

    def kinds(device: str, kind: str) -> list[ET.Element]:
        return _all(rows[device], kind)

    assert (
        len(kinds("d0", "compute")),
        len(kinds("d0", "send")),
        len(kinds("d0", "receive")),
    ) == (2, 1, 0)
    assert (
        len(kinds("d1", "compute")),
        len(kinds("d1", "send")),
        len(kinds("d1", "receive")),
    ) == (1, 0, 1)
    # d0 is idle after n3 (3 s to 6 s), d1 before n2 arrives (0 to 3 s): half the width.
    for device in ("d0", "d1"):
        (idle,) = kinds(device, "idle")
        assert float(idle.get("width", "0")) == picture.TIMELINE_W / 2
    assert kinds("d0", "compute")[0].get("fill") == picture.device_colours(["d0", "d1"])["d0"]
    send_title = kinds("d0", "send")[0].find("svg:title", NS)
    assert send_title is not None and send_title.text == "send n1 -> n2: 2 s to 3 s"


def test_names_are_escaped_not_markup() -> None:
    hostile = 'a"><script>alert(1)</script><x y="'
    graph = Graph([Node(hostile, "<op>"), Node("b&c", "Add")], [Edge(hostile, "b&c")], "<g>")
    placement = {hostile: "<d>", "b&c": "<d>"}
    svg = picture.plan_svg(graph, _result(graph, placement, ["<d>"], None), "<title>")
    assert "<script" not in svg and "<op>" not in svg
    root = _parse(svg)
    assert not list(root.iter("{http://www.w3.org/2000/svg}script"))
    assert sorted(n.get("data-node") for n in _all(root, "node")) == sorted([hostile, "b&c"])
    assert root.find("svg:title", NS).text == "<title>"  # type: ignore[union-attr]


def test_the_picture_is_deterministic() -> None:
    graph = synthetic.random_dag(40, 2)
    devices = synthetic.device_set(["H100-SXM5-80GB", "T4"])
    model = build_cost_model(graph, devices)
    assignment = [i % 2 for i in range(len(graph))]
    placement = {n.name: devices.devices[assignment[i]].id for i, n in enumerate(graph.nodes)}
    tl = timeline.step_timeline(model, assignment, graph.topo)
    result = _result(graph, placement, [d.id for d in devices.devices], tl)
    first = picture.plan_svg(graph, result, "t")
    assert first == picture.plan_svg(graph, dict(reversed(list(result.items()))), "t")
    assert len(_all(_parse(first), "node")) == 40


def test_levels_go_down_the_graph() -> None:
    graph = synthetic.random_dag(120, 7)
    drawn = layout.layout(graph, {})
    level = layout.levels(graph)
    y = {box.nodes[0]: box.y for box in drawn.boxes}
    for s, d in zip(graph.edge_src, graph.edge_dst, strict=True):
        assert level[d] > level[s]
        assert y[graph.nodes[d].name] > y[graph.nodes[s].name]
    assert not drawn.summarised and drawn.note is None


def test_a_huge_graph_is_summarised_and_says_so() -> None:
    graph = synthetic.random_dag(10000, 3)
    devices = [f"gpu{k}" for k in range(4)]
    placement = {n.name: devices[i * 4 // len(graph)] for i, n in enumerate(graph.nodes)}
    svg = picture.plan_svg(graph, _result(graph, placement, devices, None), "big")
    root = _parse(svg)
    assert not _all(root, "node")
    stages = _all(root, "stage")
    assert 4 <= len(stages) <= layout.BAND_LIMIT * len(devices)
    assert sum(int(s.get("data-nodes", "0")) for s in stages) == len(graph)
    colours = picture.device_colours(devices)
    for stage in stages:
        assert stage.find("svg:rect", NS).get("fill") == colours[stage.get("data-device", "")]  # type: ignore[union-attr]
    notes = [t.text or "" for t in _all(root, "note")]
    assert any("10000 nodes" in n and "summarised" in n for n in notes)
    assert len(svg) < 200_000


def test_edges_past_the_limit_are_counted_in_the_note() -> None:
    nodes = [Node(f"s{i}", "Op") for i in range(40)] + [Node(f"t{i}", "Op") for i in range(40)]
    edges = [Edge(f"s{i}", f"t{j}") for i in range(40) for j in range(40)]
    drawn = layout.layout(Graph(nodes, edges, "dense"), {})
    assert len(drawn.edges) == layout.EDGE_LIMIT
    assert drawn.note == f"{1600 - layout.EDGE_LIMIT} of 1600 edges not drawn"
