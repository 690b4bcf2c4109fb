"""Sphinx configuration for the Cyborg-NG documentation."""

import pathlib
import sys

# doc/source/_ext: the diagrams drawn from the code's own tables (cyborg_diagrams)
# and the user guide's plan pictures (plan_pictures), both at build time.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "_ext"))

project = "Cyborg-NG"
copyright = "2026, the Cyborg-NG developers"
extensions = [
    "oslo_config.sphinxext",
    "oslo_policy.sphinxext",
    "sphinx.ext.autodoc",
    "sphinx.ext.graphviz",
    "cyborg_diagrams",
    "plan_pictures",
]
exclude_patterns = ["build", "_generated"]
html_theme = "alabaster"
# Driver pages show their module's docstring only: it says what the driver reads.
autodoc_default_options = {"members": False}
# Diagrams are drawn by Graphviz's dot (tools/ensure-graphviz.sh) as SVG: sharp at any
# size, and their text can be searched and selected.
graphviz_output_format = "svg"
