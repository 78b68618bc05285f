"""Types of query-string parameters."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError


def _decimal_digits(value: object) -> object:
    # Python's int() also reads "1_0", " 1", "+1" and "1.0": a URL means one number only.
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise PydanticCustomError(
            "int_parsing", "Input should be an integer written in the digits 0-9 alone"
        )
    return value


QueryInt = Annotated[int, BeforeValidator(_decimal_digits)]
