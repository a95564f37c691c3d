"""Strict, bounded JSON for webhook bodies.

A body is refused (:class:`~webhooks.errors.WebhookPayloadError`, 400) when it is not UTF-8,
is nested deeper than ``MAX_JSON_DEPTH`` (checked on the bytes, before parsing), has a number
literal longer than ``MAX_NUMBER_CHARS`` or outside the float range, uses ``NaN``,
``Infinity`` or ``-Infinity`` (not JSON, though Python's parser takes them), repeats a key
in one object (two parsers could disagree about which value was signed, so neither is
chosen), or holds text the ledger cannot store: U+0000 or a lone UTF-16 surrogate, which
only ``\\u`` escapes can produce. Reasons never quote the body beyond an escaped key name.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from webhooks.errors import WebhookPayloadError
from webhooks.grammar import printable
from webhooks.limits import MAX_JSON_DEPTH, MAX_NUMBER_CHARS

_TOKENS = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{}]|"', re.DOTALL)
"""A whole string, a bracket, or (when a string never ends) its lone opening quote."""

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class _Refused(ValueError):
    """Raised from inside the parser's hooks; carries the 400's reason."""


def check_depth(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse bytes whose arrays/objects nest deeper than ``max_depth``, without parsing them.

    Linear in the body: strings are skipped whole, and an unterminated one ends the scan
    (the parser refuses such a body anyway).
    """
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return
    depth = 0
    for match in _TOKENS.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                raise WebhookPayloadError(f"JSON nested deeper than {max_depth} levels")
        elif token in (b"]", b"}"):
            depth -= 1
        elif token == b'"':
            return


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not JSON")


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(f"number longer than {MAX_NUMBER_CHARS} characters")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(f"number longer than {MAX_NUMBER_CHARS} characters")
    value = float(text)
    if not math.isfinite(value):
        raise _Refused("number out of range")
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate key {printable(key, 40)!r} in an object")
            seen.add(key)
    return obj


def _check_text(value: Any) -> None:
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            raise WebhookPayloadError("text the ledger cannot store (NUL or a lone surrogate)")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


def loads(raw: bytes) -> Any:
    """The parsed body, or a 400 saying which rule it broke."""
    check_depth(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookPayloadError("body is not UTF-8") from None
    try:
        value = json.loads(
            text,
            parse_constant=_constant,
            parse_int=_int,
            parse_float=_float,
            object_pairs_hook=_object,
        )
    except _Refused as exc:
        raise WebhookPayloadError(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise WebhookPayloadError(f"body is not valid JSON ({exc.msg} at {exc.pos})") from None
    except RecursionError:  # unreachable after check_depth; kept so it can never be a 500
        raise WebhookPayloadError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    _check_text(value)
    return value
