"""doc/source/user/cluster.rst: its worked example prints what the page says."""

import contextlib
import io
import pathlib
import textwrap

PAGE = pathlib.Path(__file__).parents[3] / "doc" / "source" / "user" / "cluster.rst"


def blocks(kind: str) -> list[str]:
    lines = PAGE.read_text().splitlines()
    found = []
    for i, line in enumerate(lines):
        if line.strip() == f".. code-block:: {kind}":
            body = []
            for nxt in lines[i + 2 :]:
                if nxt and not nxt.startswith("  "):
                    break
                body.append(nxt)
            found.append(textwrap.dedent("\n".join(body)).strip())
    return found


def test_the_worked_example_prints_what_the_page_shows() -> None:
    (code,) = blocks("python")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(PAGE), "exec"), {})
    assert out.getvalue().strip() == blocks("text")[0]
