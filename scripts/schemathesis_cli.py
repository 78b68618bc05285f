"""The Schemathesis CLI, with a guard against a CPython 3.11 bug that aborts a run.

On CPython 3.11 before 3.11.8, `ast.parse` can raise a spurious
`SystemError: AST constructor recursion depth mismatch` (CPython gh-106905) depending on the
stack depth it is called at. Hypothesis parses source files only to *describe* lambdas in
strategy reprs, so a failure there is cosmetic, yet it surfaces as a Schemathesis runtime error
that fails the run. Here such a description falls back to a placeholder; nothing that is sent
to the API or checked in its answers changes.
"""

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
