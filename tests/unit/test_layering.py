"""Layers import only downward (shared/STYLE.md): a failing row names the import to remove."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2] / "cyborg"

# package -> cyborg packages it must never import
FORBIDDEN = {
    "api": {"db", "drivers", "agent"},
    "objects": {"api", "conductor", "agent", "clients", "cmd", "wsgi", "drivers", "scheduler"},
    "db": {"objects", "api", "conductor", "agent", "clients", "cmd", "wsgi", "drivers"},
    "common": {"api", "objects", "conductor", "agent", "clients", "cmd", "wsgi", "drivers", "db"},
    "conf": {"api", "objects", "conductor", "agent", "clients", "cmd", "wsgi", "drivers", "db"},
    "scheduler": {"api", "db", "cmd", "wsgi", "drivers"},
    "clients": {"api", "db", "objects", "conductor", "agent", "cmd", "wsgi", "drivers"},
    "policies": {"api", "db", "objects", "conductor", "agent", "drivers", "cmd", "wsgi"},
}
# drivers may import only these cyborg packages
DRIVERS_ALLOWED = {"drivers", "common"}


def _cyborg_imports(path: pathlib.Path) -> set[str]:
    """Second-level package names (``cyborg.<name>``) that a module imports."""
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
            if node.module == "cyborg":
                modules = [f"cyborg.{alias.name}" for alias in node.names]
        for module in modules:
            parts = module.split(".")
            if parts[0] == "cyborg" and len(parts) > 1:
                names.add(parts[1])
    return names


def _modules(package: str) -> list[pathlib.Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_upward(package: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT.parent)} imports cyborg.{name}"
        for path in _modules(package)
        for name in _cyborg_imports(path) & FORBIDDEN[package]
    ]
    assert offenders == []


def test_drivers_import_only_common() -> None:
    offenders = [
        f"{path.relative_to(ROOT.parent)} imports cyborg.{name}"
        for path in _modules("drivers")
        for name in _cyborg_imports(path) - DRIVERS_ALLOWED
    ]
    assert offenders == []


def test_the_check_sees_imports() -> None:
    # Guard against a check that passes because it parses nothing.
    assert "db" in _cyborg_imports(ROOT / "objects" / "device.py")
