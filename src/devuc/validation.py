"""Reading untrusted JSON: each helper either returns a value of the expected type or raises the
caller's catalogue code with a message that names the field by its full JSON path."""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import ApiError

_KIND_NAMES = {str: "a string", dict: "an object", list: "an array", bool: "a boolean", int: "an integer"}


def parse_json(raw: bytes, code: str, field_code: str | None = None) -> Any:
    """The JSON value of a body: ``code`` when it is empty or not JSON, ``field_code`` (default
    ``code``) when a field holds text no field may contain."""
    if not raw.strip():
        raise ApiError(code, "The request body is empty.")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ApiError(code, "The request body is not valid JSON.") from exc
    bad = _unstorable_field(data)
    if bad is not None:
        raise ApiError(
            field_code or code,
            f"Invalid parameter '{bad}': contains NUL or a lone surrogate, which no field may hold.",
        )
    return data


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable_field(data: Any) -> str | None:
    """The path of the first string (key or value) holding NUL or a lone surrogate: valid JSON
    (``\\u0000``, ``\\ud800``) that no database can store. None when there is none."""
    pending: list[tuple[str, Any]] = [("", data)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return path or "body"
        elif isinstance(item, dict):
            for key, value in item.items():
                child = f"{path}.{key}" if path else str(key)
                if _UNSTORABLE.search(key):
                    return path or "body"
                pending.append((child, value))
        elif isinstance(item, list):
            pending.extend((f"{path}[{i}]", value) for i, value in enumerate(item))
    return None


def _is(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def field(
    obj: dict,
    key: str,
    path: str,
    kind: type,
    *,
    missing: str | None,
    invalid: str,
) -> Any:
    """``obj[key]`` checked against ``kind``. ``missing=None`` makes the member optional (None when
    absent or null); otherwise its absence raises ``missing``."""
    value = obj.get(key) if isinstance(obj, dict) else None
    name = f"{path}.{key}" if path else key
    if value is None:
        if missing is None:
            return None
        raise ApiError(missing, f"Missing parameter '{name}'.")
    if not _is(value, kind):
        raise ApiError(invalid, f"Invalid parameter '{name}': must be {_KIND_NAMES[kind]}.")
    return value


def object_at(data: Any, path: str, *, missing: str, invalid: str) -> dict:
    """Walk a dotted path of mandatory objects from the body root."""
    if not isinstance(data, dict):
        raise ApiError(invalid, "The request body must be a JSON object.")
    current, walked = data, ""
    for key in path.split("."):
        current = field(current, key, walked, dict, missing=missing, invalid=invalid)
        walked = f"{walked}.{key}" if walked else key
    return current


def query_bool(value: str | None, name: str, code: str) -> bool | None:
    if value is None:
        return None
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise ApiError(code, f"Invalid parameter '{name}': must be true or false.")
    return lowered == "true"


def query_int(value: str | None, name: str, code: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        raise ApiError(code, f"Invalid parameter '{name}': must be an integer from {low} to {high}.")
    return int(value)
