"""The code's shape, read from its syntax trees: layering, one vocabulary, short functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from features.domain import GRADES, TICKET_NAMES
from pipelines.catalog import OUTPUT_FILES

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("features", "models", "pipelines")
VOCABULARY = Path("features/domain.py")
MAX_LINES = 80  # any function, whole
MAX_FLOW_LINES = 25  # a flow's body: the statements after its signature and docstring


def _modules() -> dict[Path, ast.Module]:
    return {
        path.relative_to(ROOT): ast.parse(path.read_text(encoding="utf-8"))
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


MODULES = _modules()


def _docstrings(tree: ast.Module) -> set[int]:
    owners = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, owners)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def _strings(tree: ast.Module) -> list[ast.Constant]:
    """Return the module's string literals that are code, not documentation."""
    docs = _docstrings(tree)
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
    ]


def _imports(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    "package, forbidden", [("features", {"models", "pipelines"}), ("models", {"pipelines"})]
)
def test_no_import_runs_back_up_the_layers(package, forbidden):
    offenders = {
        str(path): sorted(_imports(tree) & forbidden)
        for path, tree in MODULES.items()
        if path.parts[0] == package and _imports(tree) & forbidden
    }
    assert offenders == {}


CATALOG = Path("pipelines/catalog.py")
# The data folder's parts (pipelines.catalog's docstring draws the layout).
LAYOUT = {"store", "scored", "outputs", "mlflow", "mlflow.db", "reports", "demo", "logs", "prefect"}
LAYOUT |= {"scored.parquet", "quarantine.parquet", "meta.json"}  # a staged day
LAYOUT |= set(OUTPUT_FILES) | {"backtest.csv", "predictions.parquet"}  # a published day; a backtest


def _path_parts(tree: ast.Module) -> list[tuple[int, str]]:
    """Return the string literals a module joins into a path: `x / "part"`, `x.joinpath("part")`."""
    parts = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            operands = [node.right]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "joinpath":
            operands = node.args
        else:
            continue
        parts += [(n.lineno, n.value) for n in operands if isinstance(n, ast.Constant)]
    return parts


def test_only_the_catalog_talks_to_mlflow():
    users = sorted(str(path) for path, tree in MODULES.items() if "mlflow" in _imports(tree))
    assert users == [str(CATALOG)]


def test_only_the_catalog_builds_paths_in_the_data_folder():
    found = [
        f"{path}:{line}: {part!r}"
        for path, tree in MODULES.items()
        if path != CATALOG
        for line, part in _path_parts(tree)
        if part in LAYOUT
    ]
    assert found == []
    assert {part for _, part in _path_parts(MODULES[CATALOG])} & LAYOUT  # the search finds them


def test_grades_and_tickets_are_spelt_only_in_the_domain_module():
    """Code elsewhere names them through features.domain; docstrings may mention them."""
    found = [
        f"{path}:{node.lineno}: {node.value!r}"
        for path, tree in MODULES.items()
        if path != VOCABULARY
        for node in _strings(tree)
        if node.value in GRADES or any(ticket in node.value for ticket in TICKET_NAMES)
    ]
    assert found == []


def test_the_checks_see_what_they_look_for():
    """The two searches above find the vocabulary where it is declared."""
    declared = {node.value for node in _strings(MODULES[VOCABULARY])}
    assert set(GRADES) <= declared
    assert set(TICKET_NAMES) <= declared
    assert "features" in _imports(MODULES[Path("models/grader.py")])


def _functions(tree: ast.Module):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _length(node) -> int:
    return node.end_lineno - node.lineno + 1


def _body_length(node) -> int:
    """Return the lines from a function's first statement after its docstring to its end."""
    body = (
        node.body[1:]
        if id(getattr(node.body[0], "value", None)) in _docstrings(node)
        else node.body
    )
    return node.end_lineno - body[0].lineno + 1


def _is_flow(node) -> bool:
    return any(ast.unparse(d).startswith("flow(") for d in node.decorator_list)


def test_no_function_is_longer_than_80_lines():
    long = [
        f"{path}:{node.lineno} {node.name} ({_length(node)} lines)"
        for path, tree in MODULES.items()
        for node in _functions(tree)
        if _length(node) > MAX_LINES
    ]
    assert long == []


def test_every_flow_is_a_short_list_of_steps():
    flows = [
        (path, node)
        for path, tree in MODULES.items()
        for node in _functions(tree)
        if _is_flow(node)
    ]
    assert {"train_flow", "score_flow", "publish_flow", "retrain_flow"} <= {
        n.name for _, n in flows
    }
    long = [
        f"{path}:{node.lineno} {node.name} (body {_body_length(node)} lines)"
        for path, node in flows
        if _body_length(node) > MAX_FLOW_LINES
    ]
    assert long == []


def test_a_long_function_would_be_found():
    """The measures above, on code written for the purpose."""
    source = '@flow(name=\'x\')\ndef f():\n    """Doc."""\n' + "    a = 1\n" * 30
    node = ast.parse(source).body[0]
    assert _is_flow(node) and _body_length(node) == 30 and _length(node) == 32
