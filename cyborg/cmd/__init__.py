"""Console scripts (cyborg/__init__.py has chosen the threading backend)."""
