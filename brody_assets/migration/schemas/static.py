"""The schema modules' ``definition`` strings, read from their source without importing DataJoint.

Loading the Definitions (every run process, sensor tick and UI reload) needs the tables' column
types for the integrity checks' SQL, but not DataJoint, which costs about a second to import.
:func:`static_definitions` parses each ``new_*.py`` / ``shadow_*.py`` module and evaluates only
what a definition may be: a string literal, or ``shadow_definition(new.Class, "key line", ...)``
(:mod:`.derive`, which is plain Python). Anything else is an error naming the module and class, so
a new way of writing definitions cannot be silently misread. A test checks that the result equals
the definitions of the DataJoint classes themselves.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from types import SimpleNamespace

from .derive import shadow_definition

SCHEMAS_DIR = Path(__file__).resolve().parent
LAYERS = ("new", "shadow")


class StaticDefinitionError(ValueError):
    """A schema module writes a definition in a form the static reader does not evaluate."""


def _static_class(name: str, namespace: dict) -> type:
    # derive._resolve looks references up in ``vars(cls).get("_static_namespace")``.
    return type(name, (), {"_static_namespace": namespace})


def _evaluate(node: ast.expr, namespace: dict, where: str) -> object:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and node.id in namespace:
        return namespace[node.id]
    if isinstance(node, ast.Attribute):
        return getattr(_evaluate(node.value, namespace, where), node.attr)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "shadow_definition" and not node.keywords):
        return shadow_definition(*(_evaluate(arg, namespace, where) for arg in node.args))
    raise StaticDefinitionError(f"{where}: cannot read {ast.unparse(node)!r} without importing it")


def _build_class(node: ast.ClassDef, namespace: dict, where: str, out: dict, path: str) -> type:
    cls = _static_class(node.name, namespace)
    for item in node.body:
        if isinstance(item, ast.ClassDef):
            part = _build_class(item, namespace, f"{where}.{item.name}", out, f"{path}.{item.name}")
            setattr(cls, item.name, part)
        elif (isinstance(item, ast.Assign) and len(item.targets) == 1
              and isinstance(item.targets[0], ast.Name) and item.targets[0].id == "definition"):
            definition = _evaluate(item.value, namespace, where)
            cls.definition = definition
            out[path] = definition
    return cls


@cache
def _module(stem: str) -> tuple[SimpleNamespace, dict[str, str]]:
    """(namespace of the module's classes and imported schema modules, {class path: definition})."""
    source = SCHEMAS_DIR / f"{stem}.py"
    namespace: dict = {}
    definitions: dict[str, str] = {}
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module is None:
            for alias in node.names:
                namespace[alias.asname or alias.name] = _module(alias.name)[0]
        elif isinstance(node, ast.ClassDef):
            namespace[node.name] = _build_class(node, namespace, f"{stem}.{node.name}", definitions,
                                                node.name)
    return SimpleNamespace(**namespace), definitions


def module_stems(layer: str) -> list[str]:
    """The schema modules of a layer, e.g. ``["new_acquisition", "new_action", ...]``."""
    return sorted(p.stem for p in SCHEMAS_DIR.glob(f"{layer}_*.py"))


def static_definitions() -> dict[tuple[str, str], str]:
    """``{(module stem, "Class" or "Master.Part"): definition}`` for every table of both layers."""
    return {
        (stem, path): definition
        for layer in LAYERS
        for stem in module_stems(layer)
        for path, definition in _module(stem)[1].items()
    }
