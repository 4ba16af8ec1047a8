"""Text and JSON from outside, checked once before any view sees it.

A JSON body under /api is parsed here first: nesting beyond MAX_DEPTH is a 400 (Python's parser
recurses), and strings that no database can store or feed can carry — NUL, other control
characters, lone surrogates — are a 400 naming the field. Monitoring cannot fix what it sends and
must page whatever arrives, so its endpoints (marked `@monitoring_text`) get such text normalised
instead: control characters dropped, lone surrogates replaced with U+FFFD.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable

from flask import current_app, request
from werkzeug.exceptions import BadRequest

MAX_DEPTH = 64
MAX_ID = 2 ** 31 - 1  # the largest id (and offset) any backend stores: PostgreSQL's integer
# C0 controls but tab, newline and carriage return; DEL and the C1 controls. XML 1.0 forbids the C0
# ones, PostgreSQL refuses NUL, and none of them belongs in a title or a label.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
SURROGATE = re.compile("[\ud800-\udfff]")  # in a str only when unpaired (json.loads of "\ud800")
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class TooDeep(ValueError):
    pass


def clean_text(text: str) -> str:
    """`text` without control characters (tab and line breaks kept) and with U+FFFD for lone surrogates."""
    if not _UNSTORABLE.search(text):
        return text
    return SURROGATE.sub("\ufffd", CONTROL.sub("", text))


def clean(value: Any, depth: int = 0) -> Any:
    """`clean_text` on every string of a JSON value, keys included."""
    if depth > MAX_DEPTH:
        raise TooDeep(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k): clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v, depth + 1) for v in value]
    return value


def unstorable(value: Any, path: str = "", depth: int = 0) -> str | None:
    """The path of the first string (or key) holding a control character or a lone surrogate, else None."""
    if depth > MAX_DEPTH:
        raise TooDeep(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        return path or "(body)" if _UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if _UNSTORABLE.search(key):
                return where
            found = unstorable(item, where, depth + 1)
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = unstorable(item, f"{path}[{i}]", depth + 1)
            if found:
                return found
    return None


def load_json(raw: bytes | str, *, normalise: bool) -> Any:
    """Parse JSON from outside: ValueError for malformed or too deeply nested JSON and, unless
    `normalise`, for unstorable text (with the field's path)."""
    try:
        value = json.loads(raw)
    except RecursionError as exc:
        raise TooDeep(f"nested deeper than {MAX_DEPTH} levels") from exc
    if normalise:
        return clean(value)
    where = unstorable(value)
    if where is not None:
        raise ValueError(f"{_printable(where)}: text must not hold NUL, control characters or unpaired surrogates")
    return value


def as_id(text: str) -> int | None:
    """An id written in a path or a query: ASCII digits up to MAX_ID, else None ("²".isdigit() is True)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def monitoring_text(view: Callable) -> Callable:
    """Mark a view whose JSON comes from monitoring: unstorable text is normalised, not refused."""
    view.normalises_text = True
    return view


def check_json_body() -> None:
    """before_request: vet a JSON body under /api (see the module's docstring)."""
    if not request.path.startswith("/api/") or not request.is_json or not request.content_length:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    normalise = bool(getattr(view, "normalises_text", False))
    raw = request.get_data(cache=True)
    try:
        value = load_json(raw, normalise=normalise)
    except TooDeep as exc:
        raise BadRequest(f"malformed request body: {exc}") from exc
    except UnicodeDecodeError:
        return  # the view's own parser answers malformed bytes in its own words
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError):
            return
        raise BadRequest(f"malformed request body: {exc}") from exc
    if normalise:
        # What every later reader of the body (webargs, request.get_json) gets: the cleaned JSON.
        request._cached_data = json.dumps(value).encode()


def _printable(path: str) -> str:
    return clean_text(path).encode("ascii", "backslashreplace").decode()
