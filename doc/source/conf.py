"""Sphinx configuration for the Cyborg-NG documentation."""

import pathlib
import sys

# Local extensions: plan_pictures draws the user guide's plan pictures at build time.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "_ext"))

project = "Cyborg-NG"
copyright = "2026, the Cyborg-NG developers"
extensions = [
    "oslo_config.sphinxext",
    "oslo_policy.sphinxext",
    "sphinx.ext.autodoc",
    "plan_pictures",
]
exclude_patterns = ["build", "_generated"]
html_theme = "alabaster"
# Driver pages show their module's docstring only: it says what the driver reads.
autodoc_default_options = {"members": False}
