"""Strict readers of the state file's fields: each returns the value or raises :class:`FieldError`
naming the field's dotted path, so that a bad state file is refused with one line."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from reconciler_sandbox.records import FieldError
from reconciler_sandbox.wire import parse_time

ACCOUNT_ID = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def mapping(
    value: Any, path: str, allowed: Iterable[str], required: Iterable[str] = ()
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FieldError(path or "(top level)", f"expected a mapping, got {kind(value)}")
    allowed_set = set(allowed)
    for key in value:
        if not isinstance(key, str):
            raise FieldError(join(path, str(key)), "keys must be strings (quote account ids)")
        if key not in allowed_set:
            raise FieldError(
                join(path, key), f"unknown key (expected one of: {', '.join(sorted(allowed_set))})"
            )
    for key in required:
        if value.get(key) is None:
            raise FieldError(join(path, key), "is required")
    return value


def kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def string(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldError(path, f"expected a non-empty string, got {kind(value)} {value!r}")
    return value


def account_id(value: Any, path: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        raise FieldError(path, f"account id {value!r} must be a quoted 12-digit string")
    if not isinstance(value, str) or not ACCOUNT_ID.match(value):
        raise FieldError(path, f"{value!r} is not a 12-digit account id")
    return value


def region(value: Any, path: str) -> str:
    if not isinstance(value, str) or not REGION.match(value):
        raise FieldError(path, f"{value!r} is not a region name like eu-west-1")
    return value


def email(value: Any, path: str) -> str:
    if not isinstance(value, str) or not EMAIL.match(value) or len(value) > 64:
        raise FieldError(path, f"{value!r} is not an email address")
    return value


def enum(value: Any, path: str, allowed: Iterable[str]) -> str:
    options = tuple(allowed)
    if value not in options:
        raise FieldError(path, f"{value!r} is not one of {', '.join(options)}")
    return str(value)


def boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise FieldError(path, f"expected true or false, got {value!r}")
    return value


def listing(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise FieldError(path, f"expected a list, got {kind(value)}")
    return value


def timestamp(value: Any, path: str) -> datetime:
    moment = parse_time(value) if not isinstance(value, int | float) else None
    if moment is None:
        raise FieldError(path, f"{value!r} is not an ISO-8601 timestamp")
    return moment


def non_negative_int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FieldError(path, f"expected a non-negative integer, got {value!r}")
    return value
