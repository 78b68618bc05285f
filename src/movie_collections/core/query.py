"""Types of query-string parameters."""

from __future__ import annotations

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError


def _decimal_digits(value: object) -> object:
    # Python's int() also reads "1_0", " 1", "+1" and "1.0": a URL means one number only.
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise PydanticCustomError(
            "int_parsing", "Input should be an integer written in the digits 0-9 alone"
        )
    return value


# After the constraints in `Annotated[int, Query(ge=1), DecimalDigits]`: before them, the
# constraints would be published as `ge`/`le` instead of JSON Schema's `minimum`/`maximum`.
DecimalDigits = BeforeValidator(_decimal_digits)
