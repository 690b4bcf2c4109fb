"""The documentation builds with Sphinx, warnings treated as errors, by the command
``tox -e docs`` runs (tools/build-docs.sh), and its pages carry their diagrams."""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from cyborg.common import arq_states, constants

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Page -> how many Graphviz SVGs it shows (doc/source/diagrams/*.dot, the ARQ states).
GRAPHVIZ_PAGES = {
    "architecture.html": 1,
    "admin/deployment.html": 1,
    "admin/binding.html": 1,
    "admin/kubernetes.html": 1,
    "admin/kubernetes-deploy.html": 1,
    "admin/placement.html": 1,
}
_OBJECT = re.compile(
    r'<object data="(?P<src>[^"]+\.svg)" type="image/svg\+xml" class="(?P<cls>[^"]*)"'
)


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    # Not a skip: a machine without Graphviz cannot build the documentation.
    assert shutil.which("dot"), (
        "Graphviz's dot is not on PATH: the documentation draws its diagrams with it. "
        "Run tools/ensure-graphviz.sh (it installs Debian's graphviz as root) or "
        "install graphviz with the system's package manager."
    )
    out = tmp_path_factory.mktemp("docs") / "html"
    result = subprocess.run(
        [str(ROOT / "tools" / "build-docs.sh"), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def _svgs(html: pathlib.Path, page: str) -> list[tuple[str, pathlib.Path]]:
    """(class, file) of each Graphviz SVG the page shows."""
    text = (html / page).read_text(encoding="utf-8")
    return [(m["cls"], (html / page).parent / m["src"]) for m in _OBJECT.finditer(text)]


def _svg_text(path: pathlib.Path) -> str:
    """The text of an SVG's labels, one string."""
    root = ET.parse(path).getroot()
    return " ".join(el.text or "" for el in root.iter() if el.tag.endswith("text"))


def test_docs_build_without_warnings(html: pathlib.Path) -> None:
    assert (html / "index.html").exists()


@pytest.mark.parametrize("page", sorted(GRAPHVIZ_PAGES))
def test_page_shows_its_graphviz_diagrams(html: pathlib.Path, page: str) -> None:
    svgs = _svgs(html, page)
    assert len(svgs) == GRAPHVIZ_PAGES[page], f"{page}: {svgs}"
    for _cls, path in svgs:
        assert ET.parse(path).getroot().tag == "{http://www.w3.org/2000/svg}svg", path


def test_architecture_names_every_service(html: pathlib.Path) -> None:
    ((_cls, path),) = _svgs(html, "architecture.html")
    text = _svg_text(path)
    for service in (
        "cyborg-api",
        "cyborg-conductor",
        "cyborg-agent",
        "Placement",
        "Nova",
        "Keystone",
        "Glance",
        "RabbitMQ",
        "database",
        "kubelet",
        "Kubernetes API server",
    ):
        assert service in text, service


def test_state_diagram_draws_every_state_and_event(html: pathlib.Path) -> None:
    """A state or transition added to the code without being drawn fails here."""
    (path,) = [p for cls, p in _svgs(html, "admin/binding.html") if "arq-state-machine" in cls]
    root = ET.parse(path).getroot()
    svg = "{http://www.w3.org/2000/svg}"
    nodes = {
        group.findtext(f"{svg}title")
        for group in root.iter(f"{svg}g")
        if group.get("class") == "node"
    }
    assert {state.value for state in constants.ARQState} <= nodes
    texts = {(el.text or "").strip() for el in root.iter(f"{svg}text")}
    for event, transition in arq_states.TRANSITIONS.items():
        assert event.value in texts, event
        assert transition.trigger in texts, transition.trigger


def test_binding_page_shows_the_boot_sequence(html: pathlib.Path) -> None:
    page = (html / "admin" / "binding.html").read_text(encoding="utf-8")
    svgs = re.findall(
        r'<svg xmlns="http://www.w3.org/2000/svg" class="sequence-diagram".*?</svg>', page, re.S
    )
    assert len(svgs) == 1
    text = " ".join(el.text or "" for el in ET.fromstring(svgs[0]).iter())
    for step in ("RPC create_arqs", "RPC bind_arqs", "/os-server-external-events:"):
        assert step in text, step
    # No ASCII drawing is left in a literal block on the pages that now have pictures.
    for name in ("binding", "deployment", "kubernetes-deploy"):
        assert "+-----" not in (html / "admin" / f"{name}.html").read_text(encoding="utf-8")
