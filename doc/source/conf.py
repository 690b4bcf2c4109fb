"""Sphinx configuration for the Cyborg-NG documentation."""

project = "Cyborg-NG"
copyright = "2026, the Cyborg-NG developers"
extensions = ["oslo_config.sphinxext", "oslo_policy.sphinxext", "sphinx.ext.autodoc"]
exclude_patterns = ["build"]
html_theme = "alabaster"
# Driver pages show their module's docstring only: it says what the driver reads.
autodoc_default_options = {"members": False}
