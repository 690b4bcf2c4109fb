# Kept for tools that still call setup.py; pbr reads setup.cfg and pyproject.toml.
import setuptools

setuptools.setup(setup_requires=["pbr>=6.1.1"], pbr=True)
