"""Sphinx configuration for the release notes (reno)."""

project = "Cyborg-NG Release Notes"
extensions = ["reno.sphinxext"]
exclude_patterns = ["build"]
html_theme = "alabaster"
