"""The documentation's diagram directives (doc/source/_ext/cyborg_diagrams.py): the
ARQ state machine's Graphviz source and the sequence diagrams' SVG."""

import importlib.util
import pathlib
import shutil
import subprocess
import sys
import types
import xml.etree.ElementTree as ET

import pytest

from cyborg.common import constants

EXTENSION = pathlib.Path(__file__).resolve().parents[2] / "doc/source/_ext/cyborg_diagrams.py"


def _load() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("cyborg_diagrams", EXTENSION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["cyborg_diagrams"] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


cyborg_diagrams = _load()
SVG = "{http://www.w3.org/2000/svg}"


def test_state_dot_has_a_node_per_state_and_notes_for_broad_transitions() -> None:
    dot = cyborg_diagrams.arq_state_dot()
    for state in constants.ARQState:
        assert f'  "{state.value}" [label="{state.value}"' in dot, state
    # Unbinding starts from five states: one note names the two it does not start from.
    assert dot.count('label="any state but Unbound, Deleting"') == 1
    assert dot.count('label="any state"') == 1
    # Bind starts from two states: an edge from each.
    assert '"Initial" -> "BindStarted"' in dot
    assert '"Unbound" -> "BindStarted"' in dot


def test_state_dot_is_valid_graphviz(tmp_path: pathlib.Path) -> None:
    dot = shutil.which("dot")
    assert dot, "Graphviz's dot is missing: run tools/ensure-graphviz.sh"
    result = subprocess.run(
        [dot, "-Tsvg"],
        input=cyborg_diagrams.arq_state_dot(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert ET.fromstring(result.stdout).tag == f"{SVG}svg"


SEQUENCE = """
participant client
participant api
participant conductor
client -> api: POST /v2/accelerator_requests
api -> conductor: RPC create_arqs
note conductor: Initial
conductor --> api: done
api --> client: 201
note client..api: spans two lifelines
"""


def test_sequence_parses_participants_messages_and_notes() -> None:
    participants, steps = cyborg_diagrams.parse_sequence(SEQUENCE.splitlines())
    assert participants == ["client", "api", "conductor"]
    assert steps[0] == cyborg_diagrams.Message(0, 1, "POST /v2/accelerator_requests", False)
    assert steps[2] == cyborg_diagrams.Note(2, 2, "Initial")
    assert steps[3] == cyborg_diagrams.Message(2, 1, "done", True)
    assert steps[5] == cyborg_diagrams.Note(0, 1, "spans two lifelines")


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("client -> nova: GET", "unknown participant 'nova'"),
        ("api -> api: loop", "a message to itself is a note"),
        ("client => api: GET", "not a participant, message or note"),
        ("note nova: x", "unknown participant 'nova'"),
    ],
)
def test_sequence_refuses_what_it_cannot_draw(line: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        cyborg_diagrams.parse_sequence(["participant client", "participant api", line])


def test_sequence_needs_two_participants_and_a_step() -> None:
    with pytest.raises(ValueError, match="two participants"):
        cyborg_diagrams.parse_sequence(["participant client", "participant api"])


def test_sequence_svg_draws_each_step_below_the_last() -> None:
    participants, steps = cyborg_diagrams.parse_sequence(SEQUENCE.splitlines())
    root = ET.fromstring(cyborg_diagrams.sequence_svg(participants, steps, "a <test>"))
    assert root.get("aria-label") == "a <test>"
    arrows = [el for el in root.iter(f"{SVG}line") if el.get("class") == "message"]
    assert len(arrows) == 4
    heights = [float(el.get("y1", "0")) for el in arrows]
    assert heights == sorted(heights) and len(set(heights)) == 4
    answers = [el for el in arrows if el.get("stroke-dasharray")]
    assert len(answers) == 2
    lifelines = [el for el in root.iter(f"{SVG}line") if el.get("class") == "life"]
    assert len(lifelines) == 3
    texts = [el.text for el in root.iter(f"{SVG}text")]
    assert "RPC create_arqs" in texts and "spans two lifelines" in texts


def test_sequence_svg_does_not_break_words() -> None:
    url = "/v2/accelerator_requests?instance=0d4e3c5a-aaaa-bbbb-cccc-123456789abc"
    participants, steps = cyborg_diagrams.parse_sequence(
        ["participant a", "participant b", f"a -> b: GET {url}"]
    )
    texts = [
        el.text
        for el in ET.fromstring(cyborg_diagrams.sequence_svg(participants, steps, "x")).iter(
            f"{SVG}text"
        )
    ]
    assert url in texts
