"""Which API functions a microversion gates: adding or removing a gate fails a named row.

Read from the source (AST over cyborg/api): a function is gated by the constants of
cyborg.api.microversion it names, and by those of the cyborg.api functions it calls
(``require_version()``, ``arq_patch.parse``, ``device_view.show``). Update GATES in the
same change as the gate, so the reviewer sees which answers a version changes.
"""

import ast
import pathlib
from collections.abc import Iterator

from cyborg.api import microversion

API = pathlib.Path(__file__).resolve().parents[2] / "cyborg" / "api"
FEATURES = frozenset(
    name
    for name, value in vars(microversion).items()
    if isinstance(value, microversion.Version) and name not in {"MIN_VERSION", "MAX_VERSION"}
)

# (module under cyborg/api, function or Class.method; "<module>" for module level)
# -> the feature constants that gate it, directly or through the functions it calls.
GATES: dict[tuple[str, str], frozenset[str]] = {
    ("arq_patch", "parse"): frozenset({"PROJECT_ID_IN_BIND", "STANDALONE_BIND"}),
    ("controllers.accelerator_requests", "AcceleratorRequestsController.patch"): frozenset(
        {"PROJECT_ID_IN_BIND", "STANDALONE_BIND"}
    ),
    ("controllers.device_profiles", "DeviceProfilesController.get_one"): frozenset(
        {"PROFILE_BY_NAME"}
    ),
    ("views.device", "show"): frozenset({"DEVICE_STATUS"}),
    ("controllers.inventory", "DevicesController.get_all"): frozenset({"DEVICE_STATUS"}),
    ("controllers.inventory", "DevicesController.get_one"): frozenset({"DEVICE_STATUS"}),
    ("controllers.graphs", "require_version"): frozenset({"SCHEDULER"}),
    ("controllers.graphs", "GraphsController.get_all"): frozenset({"SCHEDULER"}),
    ("controllers.graphs", "GraphsController.get_one"): frozenset({"SCHEDULER"}),
    ("controllers.graphs", "GraphsController.post"): frozenset({"SCHEDULER", "COLOCATION"}),
    # From 2.7 a plan links to its picture; the list and the picture are 2.7's.
    ("controllers.graphs", "plan_pictures"): frozenset({"PLAN_PICTURES"}),
    ("controllers.graphs", "GraphsController.plans"): frozenset({"SCHEDULER", "PLAN_PICTURES"}),
    ("controllers.plans", "PlansController.get_all"): frozenset({"SCHEDULER", "PLAN_PICTURES"}),
    ("controllers.plans", "PlansController.get_one"): frozenset({"SCHEDULER", "PLAN_PICTURES"}),
    ("controllers.plans", "PlansController.claim"): frozenset({"SCHEDULER", "PLAN_PICTURES"}),
    ("controllers.plans", "PlansController.measurements"): frozenset({"SCHEDULER"}),
    # Jobs (2.9) do not exist below it.
    ("controllers.jobs", "require_version"): frozenset({"JOBS"}),
    ("controllers.jobs", "JobsController.get_all"): frozenset({"JOBS"}),
    ("controllers.jobs", "JobsController.get_one"): frozenset({"JOBS"}),
    ("controllers.jobs", "JobsController.post"): frozenset({"JOBS"}),
    ("controllers.jobs", "JobsController.delete"): frozenset({"JOBS"}),
    # The OpenAPI document says from which version each of these exists.
    ("controllers.inventory", "_deployables"): frozenset({"DEVICE_HOLDERS"}),
    ("controllers.inventory", "DeployablesController.get_all"): frozenset({"DEVICE_HOLDERS"}),
    ("controllers.inventory", "DeployablesController.get_one"): frozenset({"DEVICE_HOLDERS"}),
    ("controllers.inventory", "DeployablesController.patch"): frozenset({"DEVICE_HOLDERS"}),
    ("openapi", "<module>"): frozenset(
        {
            "DEVICE_STATUS",
            "STANDALONE_BIND",
            "SCHEDULER",
            "DEVICE_HOLDERS",
            "PLAN_PICTURES",
            "JOBS",
        }
    ),
}

Function = tuple[str, str]


def _module_name(path: pathlib.Path) -> str:
    return ".".join(path.relative_to(API).with_suffix("").parts)


def _is_api_module(dotted: str) -> bool:
    parts = dotted.split(".")
    return parts[:2] == ["cyborg", "api"] and API.joinpath(*parts[2:]).with_suffix(".py").exists()


class _Module:
    """One module's imports of cyborg.api, and what each of its functions names and calls."""

    def __init__(self, path: pathlib.Path) -> None:
        self.name = _module_name(path)
        self.path = path.relative_to(API.parents[1])
        self.tree = ast.parse(path.read_text(), str(path))
        self.modules: dict[str, str] = {}  # local name -> cyborg.api module (short name)
        self.symbols: dict[str, Function] = {}  # local name -> (module, name) imported
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and _is_api_module(alias.name):
                        self.modules[alias.asname] = alias.name.removeprefix("cyborg.api.")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cyborg.api"):
                for alias in node.names:
                    local, dotted = alias.asname or alias.name, f"{node.module}.{alias.name}"
                    if _is_api_module(dotted):
                        self.modules[local] = dotted.removeprefix("cyborg.api.")
                    elif node.module and _is_api_module(node.module):
                        self.symbols[local] = (node.module.removeprefix("cyborg.api."), alias.name)

    def functions(self) -> Iterator[tuple[str, str | None, ast.AST]]:
        """(qualified name, class, node): top-level functions and methods; the statements
        outside them count as ``<module>``. Nested functions belong to their outer one."""
        rest: list[ast.stmt] = []
        for node in self.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield node.name, None, node
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        yield f"{node.name}.{item.name}", node.name, item
                    else:
                        rest.append(item)
            else:
                rest.append(node)
        yield "<module>", None, ast.Module(body=rest, type_ignores=[])

    def feature(self, node: ast.AST) -> str | None:
        """The feature constant ``node`` names (``microversion.X`` or an imported X)."""
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module, name = self.modules.get(node.value.id), node.attr
        elif isinstance(node, ast.Name) and node.id in self.symbols:
            module, name = self.symbols[node.id]
        else:
            return None
        return name if module == "microversion" and name in FEATURES else None

    def callee(self, call: ast.Call, cls: str | None) -> Function | None:
        func = call.func
        if isinstance(func, ast.Name):
            return self.symbols.get(func.id, (self.name, func.id))
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.value.id == "self" and cls:
                return (self.name, f"{cls}.{func.attr}")
            if func.value.id in self.modules:
                return (self.modules[func.value.id], func.attr)
        return None


def _modules() -> list[_Module]:
    return [_Module(path) for path in sorted(API.rglob("*.py")) if path.stem != "microversion"]


def gates_in_code() -> dict[Function, frozenset[str]]:
    direct: dict[Function, set[str]] = {}
    calls: dict[Function, set[Function]] = {}
    for module in _modules():
        for name, cls, node in module.functions():
            key = (module.name, name)
            nodes = list(ast.walk(node))
            direct[key] = {f for n in nodes if (f := module.feature(n))}
            calls[key] = {
                c for n in nodes if isinstance(n, ast.Call) and (c := module.callee(n, cls))
            }
    gates = {key: set(features) for key, features in direct.items()}
    changed = True
    while changed:  # a caller is gated by what its callees are gated by
        changed = False
        for key, callees in calls.items():
            inherited = set().union(*(gates.get(c, set()) for c in callees)) - gates[key]
            if inherited:
                gates[key] |= inherited
                changed = True
    return {key: frozenset(features) for key, features in gates.items() if features}


def test_the_gate_table_matches_the_code() -> None:
    found = gates_in_code()
    rows = [
        f"{module} {function}: the code is gated by {sorted(found.get((module, function), ()))}"
        f", GATES says {sorted(GATES.get((module, function), ()))}"
        for module, function in sorted(found.keys() | GATES.keys())
        if found.get((module, function)) != GATES.get((module, function))
    ]
    assert rows == [], "update GATES (or the gate):\n" + "\n".join(rows)


def _gate_arguments(module: _Module, call: ast.Call) -> list[ast.expr] | None:
    """What ``call`` passes as the needed version, when it is a gate (else None)."""
    if isinstance(call.func, ast.Attribute) and call.func.attr == "at_least":
        return [*call.args[:1], *(k.value for k in call.keywords if k.arg == "needed")]
    if module.callee(call, None) == ("microversion", "require"):
        return [*call.args[1:2], *(k.value for k in call.keywords if k.arg == "needed")]
    return None


def test_gates_take_a_named_version() -> None:
    """``at_least`` and ``require`` get a feature constant, never a number or a tuple;
    no version is built outside cyborg/api/microversion.py."""
    offenders = []
    for module in _modules():
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.Call):
                continue
            arguments = _gate_arguments(module, node)
            if arguments is not None and not any(map(module.feature, arguments)):
                offenders.append(f"{module.path}:{node.lineno} gates on a bare version")
            if module.callee(node, None) == ("microversion", "Version"):
                offenders.append(f"{module.path}:{node.lineno} builds a Version")
    assert offenders == []


def test_every_version_has_one_feature_constant() -> None:
    versions = sorted(getattr(microversion, name) for name in FEATURES)
    assert versions == microversion.versions_since(microversion.Version(2, 1))
    assert max(versions) == microversion.MAX_VERSION
    doc = microversion.__doc__ or ""
    assert [
        name for name in FEATURES if f"* {getattr(microversion, name)} ``{name}``" not in doc
    ] == []


def test_the_check_sees_gates() -> None:
    # Guard against a table check that passes because it finds nothing.
    assert gates_in_code()[("controllers.plans", "PlansController.measurements")] == {"SCHEDULER"}
