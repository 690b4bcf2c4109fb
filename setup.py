# Kept for tools that still call setup.py; pbr reads setup.cfg and pyproject.toml.
#
# build_py also compiles the kubelet protos (tools/generate-protos.py), so that a wheel
# or sdist install carries the gRPC stubs the agent's Kubernetes plugins import (they
# are not committed). pbr takes commands from setup.cfg's [global] commands, by import
# name: the class is registered as module cyborg_build_stubs for it to find.
import pathlib
import runpy
import sys
import types

import setuptools
from setuptools.command.build_py import build_py

TOOL = pathlib.Path(__file__).resolve().parent / "tools" / "generate-protos.py"


class BuildPyWithStubs(build_py):
    command_name = "build_py"

    def run(self) -> None:
        if runpy.run_path(str(TOOL))["main"]([]) != 0:
            raise SystemExit("setup.py: generating the kubelet gRPC stubs failed")
        super().run()


module = types.ModuleType("cyborg_build_stubs")
module.BuildPyWithStubs = BuildPyWithStubs
sys.modules[module.__name__] = module

setuptools.setup(setup_requires=["pbr>=6.1.1"], pbr=True)
