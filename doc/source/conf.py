"""Sphinx configuration for the Cyborg-NG documentation."""

project = "Cyborg-NG"
copyright = "2026, the Cyborg-NG developers"
extensions = ["oslo_config.sphinxext"]
exclude_patterns = ["build"]
html_theme = "alabaster"
