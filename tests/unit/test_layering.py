"""Layers import only downward (shared/STYLE.md): a failing row names the import to remove.

Every package of ``cyborg`` has a row: the packages it may import. Where a layer may
reach another only through its RPC client, the one module allowed is named. Inside the
conductor the wings have rows of their own, and no module reads another's privates.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2] / "cyborg"

# package -> the cyborg packages it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "common": set(),
    "conf": {"version"},
    "scheduler": {"common"},
    "db": {"common", "conf"},
    "objects": {"common", "db"},
    "policies": {"common", "conf"},
    "clients": {"common", "conf"},
    "drivers": {"common"},
    "agent": {"common", "conf", "clients", "drivers"},
    "conductor": {"common", "conf", "db", "objects", "clients", "scheduler", "agent"},
    "api": {"common", "conf", "objects", "policies", "scheduler", "conductor"},
    "wsgi": {"common", "conf", "db", "api"},
    "kubernetes": {"common"},
    "cmd": {
        "common", "conf", "version", "db", "objects", "clients", "scheduler", "drivers",
        "agent", "conductor", "api", "wsgi", "kubernetes", "policies",
    },
}  # fmt: skip
# package -> {other package: the only module of it that may be imported}
THROUGH_ONE_MODULE = {
    "api": {"conductor": "cyborg.conductor.rpcapi"},
    "conductor": {"agent": "cyborg.agent.rpcapi"},
}
# Inside cyborg.conductor: each wing (and the top modules) and what it may import of
# the conductor. Wings import inward or down, never up into the top modules.
CONDUCTOR_WINGS: dict[str, set[str]] = {
    "placement": set(),
    "inventory": {"placement"},
    "binding": {"placement", "inventory"},
    "plans": {"binding", "placement"},
    "pods": {"placement"},
    "jobs": {"plans"},
    "call_recovery": set(),
    "rpcapi": {"call_recovery"},
    "serving": set(),
    "manager": {"binding", "inventory", "jobs", "placement", "plans", "pods", "serving"},
    "periodic": {"binding", "inventory", "jobs", "placement"},
    "liveness": set(),
    "server": {"manager", "periodic", "liveness"},
}


def _imported_modules(path: pathlib.Path) -> set[str]:
    """Every ``cyborg.*`` module a file imports (``from cyborg.a import b`` gives
    ``cyborg.a.b``, which is a module or a name in ``cyborg.a``)."""
    tree = ast.parse(path.read_text(), str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {m for m in modules if m.startswith("cyborg.")}


def _package(module: str) -> str:
    return module.split(".")[1]


def _modules(package: str) -> list[pathlib.Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _name(path: pathlib.Path) -> str:
    return str(path.relative_to(ROOT.parent))


def test_every_package_has_a_row() -> None:
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_its_row_allows(package: str) -> None:
    offenders = []
    for path in _modules(package):
        for module in _imported_modules(path):
            other = _package(module)
            if other == package:
                continue
            through = THROUGH_ONE_MODULE.get(package, {}).get(other)
            if other not in ALLOWED[package]:
                offenders.append(f"{_name(path)} imports {module}")
            elif through is not None and not module.startswith(through):
                offenders.append(f"{_name(path)} imports {module} (only {through} may be)")
    assert offenders == []


def _wing(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "conductor" else None


@pytest.mark.parametrize("wing", sorted(CONDUCTOR_WINGS))
def test_conductor_wing_imports_inward_or_down(wing: str) -> None:
    folder = ROOT / "conductor" / wing
    paths = _modules("conductor/" + wing) if folder.is_dir() else [folder.with_suffix(".py")]
    offenders = [
        f"{_name(path)} imports {module}"
        for path in paths
        for module in _imported_modules(path)
        if (other := _wing(module)) is not None
        and other != wing
        and other not in CONDUCTOR_WINGS[wing]
    ]
    assert offenders == []


def test_every_conductor_module_is_in_a_wing_or_at_the_top() -> None:
    entries = {
        p.stem if p.suffix == ".py" else p.name
        for p in (ROOT / "conductor").iterdir()
        if p.name != "__init__.py" and (p.suffix == ".py" or (p / "__init__.py").exists())
    }
    assert entries == set(CONDUCTOR_WINGS)


def _private_uses(source: str) -> list[str]:
    """``module._name`` and ``from module import _name`` of another cyborg module."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cyborg"):
            for alias in node.names:
                if alias.name.startswith("_"):
                    found.append(f"from {node.module} import {alias.name}")
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("cyborg"):
                    aliases[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            found.append(f"{aliases[node.value.id]}.{node.attr}")
    return found


def test_no_module_reads_another_modules_privates() -> None:
    offenders = [
        f"{_name(path)} uses {use}"
        for path in ROOT.rglob("*.py")
        for use in _private_uses(path.read_text())
    ]
    assert offenders == []


def test_the_checks_see_imports() -> None:
    # Guard against checks that pass because they parse nothing.
    assert "cyborg.db.api" in _imported_modules(ROOT / "objects" / "device.py")
    assert any(
        _wing(m) == "placement" for m in _imported_modules(ROOT / "conductor" / "manager.py")
    )
    sample = "from cyborg.conductor.binding import bind_flow\nbind_flow._finish_bind()\n"
    assert _private_uses(sample) == ["cyborg.conductor.binding.bind_flow._finish_bind"]
