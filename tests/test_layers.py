"""The layering of ../shared/DESIGN.md, checked: flows, crypto and datastore know no HTTP.

Every module of those three packages is imported (so none is skipped by a
typo in this list) and its source is read: an import of the web layer, of a
web framework or of Werkzeug, even one under TYPE_CHECKING, fails the test;
so does a flow that imports the Security extension (a flow gets a small
context, never Security).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import quart_security

PACKAGE = Path(quart_security.__file__).resolve().parent
LOWER_LAYERS = ("flows", "crypto", "datastore")
FORBIDDEN_TOP = frozenset({"quart", "flask", "werkzeug", "quart_auth", "flask_compat"})


def _modules() -> list[str]:
    found = []
    for layer in LOWER_LAYERS:
        package = importlib.import_module(f"quart_security.{layer}")
        found.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            found.append(info.name)
    return sorted(found)


def _imports(module: str) -> list[str]:
    """Every module ``module`` imports, resolved to an absolute dotted name."""
    imported = importlib.import_module(module)
    assert imported.__file__ is not None
    tree = ast.parse(Path(imported.__file__).read_text())
    is_package = imported.__file__.endswith("__init__.py")
    base = module if is_package else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = base.rsplit(".", node.level - 1)[0] if node.level > 1 else base
                target = f"{parent}.{node.module}" if node.module else parent
            else:
                target = node.module or ""
            names.append(target)
            names.extend(f"{target}.{alias.name}" for alias in node.names)
    return names


MODULES = _modules()


def test_every_lower_layer_module_is_checked() -> None:
    assert "quart_security.flows.authentication" in MODULES
    assert "quart_security.crypto.passwords" in MODULES
    assert "quart_security.datastore.sqlalchemy" in MODULES
    assert len(MODULES) >= 20


@pytest.mark.parametrize("module", MODULES)
def test_lower_layers_know_no_http(module: str) -> None:
    offending = [
        name
        for name in _imports(module)
        if name.split(".")[0] in FORBIDDEN_TOP or name.startswith("quart_security.web")
    ]
    assert offending == [], f"{module} imports {offending}"


@pytest.mark.parametrize("module", [m for m in MODULES if m.startswith("quart_security.flows")])
def test_flows_never_take_security(module: str) -> None:
    offending = [n for n in _imports(module) if n.startswith("quart_security.extension")]
    assert offending == [], f"{module} imports {offending}"


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The resolver is what the test rests on: it must map a relative import right."""
    names = _imports("quart_security.flows.context")
    assert "quart_security.outbox.MailIntent" in names
    assert "quart_security.clock" in names
