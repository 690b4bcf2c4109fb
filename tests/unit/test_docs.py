"""The documentation builds with Sphinx, warnings treated as errors, by the command
``tox -e docs`` runs (tools/build-docs.sh)."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_docs_build_without_warnings(tmp_path: pathlib.Path) -> None:
    result = subprocess.run(
        [str(ROOT / "tools" / "build-docs.sh"), str(tmp_path / "html")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "html" / "index.html").exists()
