"""Reading untrusted CodeArts input (JSON bodies, query values, path ids) into plain values.

Each reader raises the caller's catalogue code (``PM.00000001``, ``CB.00060200`` or
``UC.00011002``) with a message naming the field. ``null`` counts as absent and unknown members
are ignored (spec/projectman.md §2.1). Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ApiError

PROJECT_ID_RE = re.compile(r"^[0-9A-Za-z]{32}$")
BUILD_PROJECT_ID_RE = re.compile(r"^[0-9a-z]{32}$")
JOB_ID_RE = re.compile(r"^[0-9A-Za-z]{32}$")
USER_ID_RE = re.compile(r"^[0-9a-z]{32}$")
DOMAIN_ID_RE = re.compile(r"^[0-9A-Za-z]{32}$")


def missing(code: str, name: str) -> ApiError:
    return ApiError(code, f"Missing parameter '{name}'.")


def invalid(code: str, name: str, problem: str) -> ApiError:
    return ApiError(code, f"Invalid parameter '{name}': {problem}.")


class Body:
    """A JSON object whose members are read one at a time, each checked and named in errors."""

    def __init__(self, data: Any, code: str, path: str = "") -> None:
        if not isinstance(data, dict):
            if path:
                raise invalid(code, path, "must be an object")
            raise ApiError(code, "The request body must be a JSON object.")
        self.data = data
        self.code = code
        self.path = path

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def _get(self, key: str, required: bool) -> Any:
        value = self.data.get(key)
        if value is None and required:
            raise missing(self.code, self.name(key))
        return value

    def string(
        self,
        key: str,
        *,
        required: bool = False,
        min_len: int = 0,
        max_len: int | None = None,
        trim: bool = False,
        pattern: re.Pattern | None = None,
        pattern_text: str = "",
    ) -> str | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise invalid(self.code, self.name(key), "must be a string")
        problem = text_problem(value)
        if problem:
            raise invalid(self.code, self.name(key), problem)
        if trim:
            value = value.strip()
        if len(value) < min_len or (max_len is not None and len(value) > max_len):
            limit = f"{min_len} to {max_len}" if max_len is not None else f"at least {min_len}"
            raise invalid(self.code, self.name(key), f"must be {limit} characters")
        if pattern is not None and not pattern.match(value):
            raise invalid(self.code, self.name(key), pattern_text or "has an invalid format")
        return value

    def integer(
        self, key: str, *, required: bool = False, low: int | None = None, high: int | None = None
    ) -> int | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid(self.code, self.name(key), "must be an integer")
        if (low is not None and value < low) or (high is not None and value > high):
            raise invalid(self.code, self.name(key), f"must be from {low} to {high}")
        return value

    def boolean(self, key: str, *, required: bool = False) -> bool | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise invalid(self.code, self.name(key), "must be a boolean")
        return value

    def array(
        self, key: str, *, required: bool = False, min_items: int = 0, max_items: int | None = None
    ) -> list | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, list):
            raise invalid(self.code, self.name(key), "must be an array")
        if len(value) < min_items or (max_items is not None and len(value) > max_items):
            limit = f"{min_items} to {max_items}" if max_items is not None else f"at least {min_items}"
            raise invalid(self.code, self.name(key), f"must hold {limit} items")
        return value

    def object(self, key: str, *, required: bool = False) -> Body | None:
        value = self._get(key, required)
        if value is None:
            return None
        return Body(value, self.code, self.name(key))


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored as text on every backend (NUL, lone surrogates), or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text"
    return None


def query_text(value: str | None, name: str, code: str, max_len: int = 256) -> str | None:
    if value is None:
        return None
    problem = text_problem(value) or (f"must be at most {max_len} characters" if len(value) > max_len else None)
    if problem:
        raise invalid(code, name, problem)
    return value


def query_int(value: str | None, name: str, code: str, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    text = value.strip()
    if not (text.isascii() and text.lstrip("-").isdigit()) or not low <= int(text) <= high:
        raise invalid(code, name, f"must be an integer from {low} to {high}")
    return int(text)


def project_id(value: str, code: str, *, strict: bool = False) -> str:
    """A CodeArts project id from a path or query: 32 letters and digits, compared in lower case
    (``strict``: lower case only, as the Build pages state)."""
    pattern = BUILD_PROJECT_ID_RE if strict else PROJECT_ID_RE
    if not pattern.match(value):
        raise invalid(code, "project_id", "must be 32 lowercase letters and digits")
    return value.lower()
