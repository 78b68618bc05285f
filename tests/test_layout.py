"""Imports flow one way: features use the plumbing in core/, never the reverse, and no
feature imports another feature's router."""

from __future__ import annotations

import ast
from pathlib import Path

import movie_collections

PACKAGE = Path(movie_collections.__file__).parent
FEATURES = {
    "auth",
    "collection",
    "counter",
    "health",
    "idempotency",
    "limits",
    "metrics",
    "mock_upstream",
    "movies",
    "ratelimit",
    "web",
}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("movie_collections")}


def test_core_imports_no_feature_and_no_wiring() -> None:
    wiring = {"movie_collections.app", "movie_collections.container", "movie_collections.cli"}
    found = {
        (path.name, name)
        for path in (PACKAGE / "core").glob("*.py")
        for name in imported(path)
        if name.split(".")[1] in FEATURES or name in wiring
    }
    assert found == set()


def test_no_feature_imports_another_features_router() -> None:
    found = {
        (feature, name)
        for feature in FEATURES
        for path in (PACKAGE / feature).glob("*.py")
        for name in imported(path)
        if name.endswith(".router") and name.split(".")[1] != feature
    }
    assert found == set()
