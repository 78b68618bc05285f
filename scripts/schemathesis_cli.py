"""The Schemathesis CLI, with a guard against a CPython 3.11 bug that aborts a run.

Before 3.11.8, `ast.parse` can raise a spurious `SystemError: AST constructor recursion depth
mismatch` (CPython gh-106905). Hypothesis parses source only to describe lambdas in reprs,
so such a failure falls back to a placeholder; nothing sent or checked changes."""

from __future__ import annotations

import sys
from typing import Any

from hypothesis.internal import lambda_sources

_describe = lambda_sources._lambda_description


def _tolerant_description(function: Any, *args: Any, **kwargs: Any) -> str:
    try:
        return str(_describe(function, *args, **kwargs))
    except SystemError:
        return "lambda: <source not parsed: CPython gh-106905>"


lambda_sources._lambda_description = _tolerant_description

from schemathesis.cli import schemathesis  # noqa: E402  (after the guard is in place)

if __name__ == "__main__":
    sys.exit(schemathesis())
