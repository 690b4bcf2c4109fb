#!/usr/bin/env python3
"""How easy the conductor is to follow: its modules, the imports among them, and a
reading walk of one RPC call (``ConductorManager.bind_arqs`` unless told otherwise).

    tools/conductor_map.py [--walk Class.method] [--verbose]

The walk reads the source as a person would: from the entry method, depth first and
in source order, it follows every call it can resolve to a function of ``cyborg``
(a module's function, ``self.method``, a method of an attribute whose class the
constructor names, a method name that only one class defines). Each function is read
once. It prints how many functions it read ("stops"), in how many files, how often
it came back to a file it had already left ("returns", whatever the reason), and of
those the "sideways" ones: into a file read before that is not one of the callers on
the way down (a trip across, not back up the stack), and the "upward" calls into a
caller's file from further down.

``--root`` measures another checkout (the numbers before a change).
"""

import argparse
import ast
import itertools
import pathlib
import sys
from collections.abc import Iterator

ROOT = pathlib.Path(__file__).resolve().parents[1]

Key = tuple[str, str]  # (module name, qualified function name)


def module_name(path: pathlib.Path, root: pathlib.Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


class Module:
    """One parsed module: its functions (``f`` and ``Class.m``) and what names import."""

    def __init__(self, path: pathlib.Path, root: pathlib.Path) -> None:
        self.path = path
        self.name = module_name(path, root)
        self.tree = ast.parse(path.read_text(), str(path))
        self.functions: dict[str, ast.FunctionDef] = {}
        self.classes: dict[str, ast.ClassDef] = {}
        self.aliases: dict[str, str] = {}  # local name -> module or module.attr
        for node in self.tree.body:
            if isinstance(node, ast.FunctionDef):
                self.functions[node.name] = node
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
                for item in node.body:
                    if isinstance(item, ast.FunctionDef):
                        self.functions[f"{node.name}.{item.name}"] = item
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self.aliases[alias.asname or alias.name] = alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def imported_modules(self, known: set[str]) -> set[str]:
        found = set()
        for target in self.aliases.values():
            if target in known:
                found.add(target)
            elif target.rpartition(".")[0] in known:
                found.add(target.rpartition(".")[0])
        return found - {self.name}


def load(folder: pathlib.Path, root: pathlib.Path) -> dict[str, Module]:
    return {m.name: m for m in (Module(p, root) for p in sorted(folder.rglob("*.py")))}


def _arguments(call: ast.Call) -> list[ast.expr]:
    return [*call.args, *(k.value for k in call.keywords)]


def _is_partial(node: ast.expr) -> bool:
    """``functools.partial(...)`` or ``partial(...)``."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name == "partial"


class Walker:
    def __init__(self, modules: dict[str, Module]) -> None:
        self.modules = modules
        self.by_method: dict[str, list[Key]] = {}
        for module in modules.values():
            for qualified in module.functions:
                if "." in qualified:
                    self.by_method.setdefault(qualified.split(".")[1], []).append(
                        (module.name, qualified)
                    )

    def _class_of_attribute(self, module: Module, cls: str, attr: str) -> Key | None:
        """The class an ``__init__`` assigns to ``self.attr`` (``X(...)`` or ``mod.X(...)``)."""
        init = module.functions.get(f"{cls}.__init__")
        if init is None:
            return None
        for node in ast.walk(init):
            if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
                continue
            target = node.targets[0]
            if isinstance(target, ast.Attribute) and target.attr == attr:
                return self._resolve_name(module, node.value.func)
        return None

    def _resolve_name(self, module: Module, func: ast.expr) -> Key | None:
        if isinstance(func, ast.Name):
            if func.id in module.functions or func.id in module.classes:
                return (module.name, func.id)
            target = module.aliases.get(func.id, "")
            owner, _, name = target.rpartition(".")
            if owner in self.modules:
                return (owner, name)
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            target = module.aliases.get(func.value.id)
            if target in self.modules:
                return (target, func.attr)
        return None

    def callees(self, key: Key) -> Iterator[tuple[Key, tuple[Key, ...]]]:
        """Each function ``key`` calls, in source order, with the functions it hands to
        that call (callbacks and ``functools.partial``), which are read as called from
        inside it: a reader who follows the call meets them there."""
        module = self.modules[key[0]]
        node = module.functions[key[1]]
        cls = key[1].split(".")[0] if "." in key[1] else None
        calls = sorted(
            (n for n in ast.walk(node) if isinstance(n, ast.Call)),
            key=lambda n: (n.lineno, n.col_offset),
        )
        handed_on = {id(arg) for call in calls for arg in _arguments(call) if _is_partial(arg)}
        for call in calls:
            if id(call) in handed_on:
                continue  # read with the call it is handed to
            callbacks = tuple(
                target
                for arg in _arguments(call)
                for target in self._function_keys(self._callable(module, cls, arg))
            )
            targets = [
                target
                for found in self._targets(module, cls, call)
                for target in self._function_keys(found)
            ]
            if not targets:  # handed to a call we cannot follow: read them here
                for callback in callbacks:
                    yield callback, ()
                continue
            for target in targets:
                yield target, callbacks
                callbacks = ()

    def _callable(self, module: Module, cls: str | None, arg: ast.expr) -> Key | None:
        """The function an argument names: ``f``, ``mod.f``, ``self.m``, ``partial(f, ...)``."""
        if _is_partial(arg):
            assert isinstance(arg, ast.Call)
            arg = arg.args[0] if arg.args else arg
        is_self = isinstance(arg, ast.Attribute) and getattr(arg.value, "id", None) == "self"
        if is_self and cls:
            assert isinstance(arg, ast.Attribute)
            return (module.name, f"{cls}.{arg.attr}")
        if isinstance(arg, ast.Name | ast.Attribute):
            return self._resolve_name(module, arg)
        return None

    def _targets(self, module: Module, cls: str | None, call: ast.Call) -> Iterator[Key | None]:
        func = call.func
        yield self._resolve_name(module, func)
        if isinstance(func, ast.Attribute):
            value = func.value
            if isinstance(value, ast.Name) and value.id == "self" and cls:
                yield (module.name, f"{cls}.{func.attr}")
            elif (
                isinstance(value, ast.Attribute)
                and isinstance(value.value, ast.Name)
                and value.value.id == "self"
                and cls
            ):
                owner = self._class_of_attribute(module, cls, value.attr)
                if owner is not None:
                    yield (owner[0], f"{owner[1]}.{func.attr}")
                else:
                    yield self._only_definer(func.attr)
            elif not (isinstance(value, ast.Name) and value.id in module.aliases):
                yield self._only_definer(func.attr)

    def _only_definer(self, method: str) -> Key | None:
        definers = self.by_method.get(method, [])
        return definers[0] if len(definers) == 1 else None

    def _function_keys(self, key: Key | None) -> Iterator[Key]:
        if key is None:
            return
        module = self.modules.get(key[0])
        if module is None:
            return
        if key[1] in module.functions:
            yield key
        elif key[1] in module.classes and f"{key[1]}.__init__" in module.functions:
            yield (key[0], f"{key[1]}.__init__")

    def walk(self, start: Key) -> list[tuple[Key, tuple[str, ...]]]:
        """The functions read, in order, each with the files of its callers."""
        seen: set[Key] = set()
        order: list[tuple[Key, tuple[str, ...]]] = []

        def visit(key: Key, callers: tuple[str, ...]) -> None:
            if key in seen or key[0] not in self.modules:
                return
            seen.add(key)
            order.append((key, callers))
            for callee, callbacks in self.callees(key):
                visit(callee, (*callers, key[0]))
                for callback in callbacks:  # called back from inside the callee
                    visit(callback, (*callers, key[0], callee[0]))

        visit(start, ())
        return order


def trips(order: list[tuple[Key, tuple[str, ...]]]) -> tuple[int, int, int]:
    """(returns, sideways, upward) of a walk (see the module's docstring)."""
    left: set[str] = set()
    returns = sideways = upward = 0
    for (previous, _), (current, callers) in itertools.pairwise(order):
        if current[0] == previous[0]:
            continue
        left.add(previous[0])
        if current[0] not in left:
            continue
        returns += 1
        if current[0] in callers[:-1] and current[0] != callers[-1]:
            upward += 1
        elif current[0] not in callers:
            sideways += 1
    return returns, sideways, upward


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--walk", default="ConductorManager.bind_arqs")
    parser.add_argument("--verbose", action="store_true", help="print every stop")
    parser.add_argument("--root", type=pathlib.Path, default=ROOT, help="the checkout")
    args = parser.parse_args()
    root = args.root.resolve()
    conductor = load(root / "cyborg" / "conductor", root)
    names = set(conductor)
    arrows = sorted((m.name, t) for m in conductor.values() for t in m.imported_modules(names))
    print(f"conductor modules: {sum(1 for m in conductor.values() if m.path.stem != '__init__')}")
    print(f"import arrows among them: {len(arrows)}")
    walker = Walker(load(root / "cyborg", root))
    order = walker.walk(("cyborg.conductor.manager", args.walk))
    inside = [
        (key, tuple(c for c in callers if c.startswith("cyborg.conductor")))
        for key, callers in order
        if key[0].startswith("cyborg.conductor")
    ]
    for label, stops in [("cyborg", order), ("cyborg.conductor", inside)]:
        files = len({key[0] for key, _ in stops})
        returns, sideways, upward = trips(stops)
        print(
            f"walk of {args.walk} in {label}: {len(stops)} stops in {files} files, "
            f"{returns} returns to a file already left ({sideways} sideways, {upward} upward)"
        )
    if args.verbose:
        for (module, function), callers in order:
            print(f"  {'  ' * len(callers)}{module}:{function}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
