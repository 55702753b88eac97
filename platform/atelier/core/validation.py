"""The one validator for what comes in from outside: API bodies and parameters, form fields.

Text may hold neither NUL (PostgreSQL refuses it) nor lone UTF-16 surrogates (not encodable as
UTF-8); numbers must be finite and fit the database's 64-bit integers; every refusal names its field.
"""
from __future__ import annotations

import math
import re

MAX_INT = 2**63 - 1        # PostgreSQL bigint / SQLite integer
MAX_ID = 2**62             # ids are far below this; larger ones cannot exist
MAX_OFFSET = 10**9         # paging past a billion rows is a mistake, never a page


class InvalidInput(Exception):
    """Bad input from a client; `field` names what was wrong (from "field: message" when not given)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        match = re.match(r"^([A-Za-z_][\w.\[\]]*): ", message)
        self.field = field or (match.group(1) if match else None)


def text_problem(value: str) -> str | None:
    """Why this text cannot be stored, or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (no lone surrogates)"
    return None


def clean_text(value, field: str, *, max_length: int | None = None, required: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: must be text")
    problem = text_problem(value)
    if problem:
        raise InvalidInput(f"{field}: {problem}")
    if required and not value.strip():
        raise InvalidInput(f"{field}: must not be empty")
    if max_length is not None and len(value) > max_length:
        raise InvalidInput(f"{field}: at most {max_length} characters")
    return value


def clean_int(value, field: str, *, lo: int = -MAX_INT, hi: int = MAX_INT, default: int | None = None) -> int:
    """An integer from JSON or a query string, within [lo, hi]."""
    if value is None or value == "":
        if default is None:
            raise InvalidInput(f"{field}: required, an integer")
        return default
    if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
        raise InvalidInput(f"{field}: must be an integer")
    try:
        number = int(value.strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(f"{field}: must be an integer, got {str(value)[:40]!r}") from None
    if not lo <= number <= hi:
        raise InvalidInput(f"{field}: must be between {lo} and {hi}")
    return number


def clean_id(value, field: str = "id") -> int:
    return clean_int(value, field, lo=1, hi=MAX_ID)


def clean_ids(values, field: str = "ids", *, max_items: int = 1000) -> list[int]:
    if not isinstance(values, list) or not values:
        raise InvalidInput(f"{field}: a non-empty list of ids")
    if len(values) > max_items:
        raise InvalidInput(f"{field}: at most {max_items} ids")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise InvalidInput(f"{field}: a non-empty list of ids")
    return [clean_id(v, field) for v in values]


def clean_float(value, field: str, *, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidInput(f"{field}: must be a number")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise InvalidInput(f"{field}: must be a number, got {str(value)[:40]!r}") from None
    if not math.isfinite(number) or not lo <= number <= hi:
        raise InvalidInput(f"{field}: must be a number between {lo} and {hi}")
    return number


def page_bounds(params, *, default: int, maximum: int) -> tuple[int, int]:
    """(limit, offset) from `?limit=&offset=`: every list endpoint pages through this one helper."""
    limit = clean_int(params.get("limit"), "limit", lo=1, hi=maximum, default=default)
    offset = clean_int(params.get("offset"), "offset", lo=0, hi=MAX_OFFSET, default=0)
    return limit, offset


def first_bad_value(data, path: str = "") -> tuple[str, str] | None:
    """(field path, problem) of the first value in a parsed JSON/form body that no field may hold:
    text with NUL or lone surrogates (keys too), non-finite numbers, integers past 64 bits."""
    if isinstance(data, str):
        problem = text_problem(data)
        return (path or "body", problem) if problem else None
    if isinstance(data, bool) or data is None:
        return None
    if isinstance(data, int):
        return None if -MAX_INT <= data <= MAX_INT else (path or "body", "number out of range")
    if isinstance(data, float):
        return None if math.isfinite(data) else (path or "body", "must be a finite number")
    if isinstance(data, dict):
        items = ((f"{path}.{_shown(k)}" if path else _shown(k), k, v) for k, v in data.items())
    elif isinstance(data, (list, tuple)):
        items = ((f"{path}[{i}]", None, v) for i, v in enumerate(data))
    else:
        return None
    for here, key, value in items:
        if isinstance(key, str) and text_problem(key):
            return here, f"field name {text_problem(key)}"
        found = first_bad_value(value, here)
        if found:
            return found
    return None


def _shown(key) -> str:
    """A field name safe to echo in an error (a bad key is named with its bad characters escaped)."""
    return str(key).encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
