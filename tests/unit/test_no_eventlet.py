"""No eventlet: every console script and service module runs on threads.

Importing any cyborg module selects oslo.service's threading backend
(cyborg/__init__.py); oslo.privsep, which imports eventlet for itself, is loaded only
when the agent first runs privileged work. Each check runs in a fresh interpreter,
as a service or a benchmark would start.
"""

import pathlib
import subprocess
import sys
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
SERVICE_MODULES = [
    "cyborg.api.app",
    "cyborg.wsgi.api",
    "cyborg.wsgi.embedded_placement",
    "cyborg.conductor.manager",
    "cyborg.conductor.server",
    "cyborg.agent.manager",
    "cyborg.agent.resource_tracker",
    *sorted({entry.partition(":")[0] for entry in SCRIPTS.values()}),
]
BANNER = "Eventlet is deprecated"

CHECK = """
import importlib, sys
importlib.import_module(sys.argv[1])
from oslo_service import backend
backend.get_backend()  # what a service's first use of oslo.service would pick
print("backend", backend.get_backend_type().name)
print("privsep", "oslo_privsep" in sys.modules)
patched = False
if "eventlet" in sys.modules:  # futurist tries it, to detect a green world
    from eventlet import patcher
    patched = any(patcher.is_monkey_patched(m) for m in ("socket", "thread", "time"))
print("patched", patched)
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=ROOT
    )


@pytest.mark.parametrize("module", SERVICE_MODULES)
def test_a_service_module_alone_gets_threads_and_no_privsep(module: str) -> None:
    result = _run("-c", CHECK, module)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "backend",
        "THREADING",
        "privsep",
        "False",
        "patched",
        "False",
    ], result.stdout
    assert BANNER not in result.stderr


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_a_console_scripts_help_prints_no_eventlet_banner(script: str) -> None:
    module, _, function = SCRIPTS[script].partition(":")
    code = (
        f"import sys; sys.argv = [{script!r}, '--help']; "
        f"from {module} import {function} as main; sys.exit(main())"
    )
    result = _run("-c", code)
    assert result.returncode == 0, result.stderr
    assert "usage" in result.stdout.lower()
    assert BANNER not in result.stdout + result.stderr


def test_the_check_sees_privsep_and_the_banner() -> None:
    # Guard: importing the privileged module does load oslo.privsep (and its banner).
    result = _run("-c", CHECK, "cyborg.agent.privileged")
    assert "privsep True" in " ".join(result.stdout.split())
