"""Diagrams drawn at build time from sources in the repository.

``.. arq-state-machine::``
   the accelerator request state machine, from the table the binding flows use
   (``cyborg.common.arq_states.TRANSITIONS``), drawn by Graphviz.
``.. sequence-diagram::``
   a message sequence written in the directive's content, drawn as inline SVG
   (Graphviz has no sequence layout). Lines: ``participant NAME``;
   ``A -> B: message`` (``-->`` for an answer); ``note A: text`` or
   ``note A..B: text`` (spanning from A's lifeline to B's).
"""

import html
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.ext.graphviz import graphviz
from sphinx.util.docutils import SphinxDirective

from cyborg.common import arq_states, constants

# --- the ARQ state machine -----------------------------------------------------------


def _label(text: str) -> str:
    return html.escape(text, quote=True)


def _sources_text(sources: frozenset[constants.ARQState]) -> str:
    left_out = [state.value for state in constants.ARQState if state not in sources]
    return "any state" if not left_out else "any state but " + ", ".join(left_out)


def arq_state_dot() -> str:
    """Graphviz source of the ARQ state machine: one node per state, one edge per
    source of each transition; a transition from most states starts at a note that
    names the states it does not start from."""
    lines = [
        "digraph arq_states {",
        '  graph [rankdir=TB, nodesep=0.5, ranksep=0.55, fontname="sans-serif"];',
        '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", color="#4a6fa5",'
        ' fontname="sans-serif", fontsize=12];',
        '  edge [fontname="sans-serif", fontsize=10, color="#555555"];',
        '  created [shape=circle, width=0.18, label="", style=filled, fillcolor="#333333"];',
        '  removed [shape=doublecircle, width=0.14, label="", style=filled,'
        ' fillcolor="#333333", xlabel="row removed"];',
    ]
    for state in constants.ARQState:
        resolved = state in constants.ARQ_RESOLVED_STATES
        extra = ", peripheries=2" if resolved else ""
        lines.append(f'  "{state.value}" [label="{state.value}"{extra}];')
    notes: dict[frozenset[constants.ARQState], str] = {}
    for event, transition in arq_states.TRANSITIONS.items():
        target = "removed" if transition.target is None else f'"{transition.target.value}"'
        label = (
            f'<<b>{_label(event.value)}</b><br/><font point-size="9">'
            f"{_label(transition.trigger)}</font>>"
        )
        if not transition.sources:
            starts = ["created"]
        elif len(transition.sources) <= 2:
            ordered = [s for s in constants.ARQState if s in transition.sources]
            starts = [f'"{state.value}"' for state in ordered]
        else:
            if transition.sources not in notes:
                note = f"note{len(notes)}"
                notes[transition.sources] = note
                lines.append(
                    f'  {note} [shape=note, style=filled, fillcolor="#fff8dc",'
                    f' color="#b8a55a", fontsize=10,'
                    f' label="{_label(_sources_text(transition.sources))}"];'
                )
            starts = [notes[transition.sources]]
        for start in starts:
            lines.append(f"  {start} -> {target} [label={label}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


class ARQStateMachine(SphinxDirective):
    has_content = False
    option_spec = {"alt": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(arq_states.__file__)
        node = graphviz()
        node["code"] = arq_state_dot()
        node["options"] = {"docname": self.env.docname}
        node["alt"] = self.options.get("alt", "The accelerator request state machine")
        node["classes"] = ["arq-state-machine"]
        return [node]


# --- sequence diagrams ---------------------------------------------------------------

COLUMN = 190  # px between lifelines
CHAR = 6.6  # px, a mean character at FONT px
FONT = 12
LINE = 15  # px per line of text
TOP = 40  # the participants' boxes


@dataclass(frozen=True)
class Message:
    sender: int
    receiver: int
    text: str
    answer: bool


@dataclass(frozen=True)
class Note:
    first: int
    last: int
    text: str


Step = Message | Note

_MESSAGE = re.compile(r"^(?P<a>.+?)\s*(?P<arrow>-->|->)\s*(?P<b>.+?)\s*:\s*(?P<text>.+)$")
_NOTE = re.compile(r"^note\s+(?P<a>.+?)(?:\.\.(?P<b>.+?))?\s*:\s*(?P<text>.+)$")


def parse_sequence(lines: Sequence[str]) -> tuple[list[str], list[Step]]:
    """Participants and steps of a sequence; ValueError naming a line it cannot read."""
    participants: list[str] = []
    steps: list[Step] = []

    def index(name: str, line: str) -> int:
        if name not in participants:
            raise ValueError(f"unknown participant {name!r} in: {line}")
        return participants.index(name)

    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if line.startswith("participant "):
            participants.append(line.removeprefix("participant ").strip())
        elif match := _NOTE.match(line):
            first = index(match["a"], line)
            last = first if match["b"] is None else index(match["b"], line)
            steps.append(Note(min(first, last), max(first, last), match["text"]))
        elif match := _MESSAGE.match(line):
            sender, receiver = index(match["a"], line), index(match["b"], line)
            if sender == receiver:
                raise ValueError(f"a message to itself is a note: {line}")
            steps.append(Message(sender, receiver, match["text"], match["arrow"] == "-->"))
        else:
            raise ValueError(f"not a participant, message or note: {line}")
    if len(participants) < 2 or not steps:
        raise ValueError("a sequence needs two participants and at least one step")
    return participants, steps


def _wrap(text: str, width_px: float) -> list[str]:
    # Words are not broken: a URL wider than its arrow overhangs, haloed (see the style).
    width = max(8, int(width_px / CHAR))
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]


def _text(x: float, y: float, line: str, anchor: str = "middle", css: str = "") -> str:
    style = f' class="{css}"' if css else ""
    return (
        f'<text x="{x:.0f}" y="{y:.0f}" text-anchor="{anchor}"{style}>{html.escape(line)}</text>'
    )


def sequence_svg(participants: Sequence[str], steps: Sequence[Step], alt: str) -> str:
    """An SVG of the sequence: lifelines, then the steps from top to bottom."""
    x = [COLUMN / 2 + COLUMN * i for i in range(len(participants))]
    width = COLUMN * len(participants)
    body: list[str] = []
    y = TOP + 22.0
    for step in steps:
        if isinstance(step, Note):
            left, right = x[step.first] - COLUMN * 0.42, x[step.last] + COLUMN * 0.42
            wrapped = _wrap(step.text, right - left - 12)
            box = LINE * len(wrapped) + 8
            body.append(
                f'<rect x="{left:.0f}" y="{y:.0f}" width="{right - left:.0f}"'
                f' height="{box}" class="note"/>'
            )
            for n, line in enumerate(wrapped):
                body.append(_text((left + right) / 2, y + 15 + LINE * n, line))
            y += box + 12
            continue
        a, b = x[step.sender], x[step.receiver]
        wrapped = _wrap(step.text, abs(b - a) - 14)
        for n, line in enumerate(wrapped):
            body.append(_text((a + b) / 2, y + 11 + LINE * n, line))
        y += LINE * len(wrapped) + 4
        dash = ' stroke-dasharray="5,3"' if step.answer else ""
        body.append(
            f'<line x1="{a:.0f}" y1="{y:.0f}" x2="{b:.0f}" y2="{y:.0f}"'
            f' class="message"{dash} marker-end="url(#arrow)"/>'
        )
        y += 14
    height = y + 8
    head: list[str] = []
    for name, cx in zip(participants, x, strict=True):
        head.append(
            f'<rect x="{cx - COLUMN * 0.42:.0f}" y="6" width="{COLUMN * 0.84:.0f}"'
            f' height="{TOP - 12}" rx="5" class="participant"/>'
        )
        head.append(_text(cx, TOP / 2 + 4, name, css="name"))
        head.append(
            f'<line x1="{cx:.0f}" y1="{TOP - 6}" x2="{cx:.0f}" y2="{height:.0f}" class="life"/>'
        )
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="sequence-diagram"'
            f' viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}"'
            f' height="{height:.0f}" role="img" aria-label="{html.escape(alt)}"'
            ' style="max-width: 100%; height: auto">',
            f"<title>{html.escape(alt)}</title>",
            "<style>text { font: 12px sans-serif; fill: #222;"
            " paint-order: stroke; stroke: #fff; stroke-width: 3px; }"
            " .name { font-weight: bold; }"
            " .participant { fill: #eef3fb; stroke: #4a6fa5; }"
            " .life { stroke: #999; stroke-dasharray: 4,4; }"
            " .message { stroke: #333; stroke-width: 1.2; }"
            " .note { fill: #fff8dc; stroke: #b8a55a; }</style>",
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5"'
            ' markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
            '<path d="M 0 0 L 10 5 L 0 10 z" fill="#333"/></marker></defs>',
            *head,
            *body,
            "</svg>",
        ]
    )


class SequenceDiagram(SphinxDirective):
    has_content = True
    option_spec = {"alt": directives.unchanged_required}

    def run(self) -> list[nodes.Node]:
        try:
            participants, steps = parse_sequence(self.content)
        except ValueError as err:
            raise self.error(f"sequence-diagram: {err}") from err
        alt = self.options.get("alt", "A message sequence")
        svg = sequence_svg(participants, steps, alt)
        return [nodes.raw("", f'<div class="sequence">{svg}</div>', format="html")]


def setup(app: Sphinx) -> dict[str, object]:
    app.setup_extension("sphinx.ext.graphviz")
    app.add_directive("arq-state-machine", ARQStateMachine)
    app.add_directive("sequence-diagram", SequenceDiagram)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
