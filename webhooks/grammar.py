"""What a merchant name, an id and an event name may look like, and how claimed text is kept.

Everything that decides what is stored or dispatched (the merchant, the message id, the event,
the subject id) must match one of these patterns before it is used. Text kept only for review
(a rejected request's claims) goes through :func:`printable` instead: cut short, control
characters and lone surrogates escaped, so the database never refuses it.
"""

from __future__ import annotations

import re

from core.merchant import SLUG_PATTERN
from webhooks.errors import WebhookPayloadError
from webhooks.limits import MAX_EXCERPT_CHARS

MERCHANT_NAME = re.compile(SLUG_PATTERN.removeprefix("^").removesuffix("$"))
"""A merchant's slug (``core.merchant.SLUG_PATTERN``); matched in full, before any lookup."""

MAX_ID_CHARS = 255
ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_ID_CHARS}}}")
"""Message ids, return ids, customer identifiers: 1-255 visible ASCII characters, no spaces."""

RETURNLY_EVENT = re.compile(r"[a-z][a-z0-9_]{0,30}\.[a-z][a-z0-9_]{0,30}")
"""``return.authorized``, ``credit.issued``: two snake_case words and a dot."""

AMS_EVENT = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
"""``tendered``, ``inTransit``, ``in-receiving``: a letter, then letters, digits, ``_.-``."""

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def check_merchant(name: str) -> str:
    """``name`` if it is a merchant slug; otherwise a 400 that never touches the lookup."""
    if not MERCHANT_NAME.fullmatch(name):
        raise WebhookPayloadError("merchant in the path is not a merchant name")
    return name


def check_id(value: object, what: str) -> str:
    """``value`` if it is a non-empty id string; a 400 naming ``what`` otherwise."""
    if not isinstance(value, str):
        raise WebhookPayloadError(f"{what} must be a string")
    if not ID.fullmatch(value):
        raise WebhookPayloadError(
            f"{what} must be 1-{MAX_ID_CHARS} visible ASCII characters without spaces"
        )
    return value


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: str, limit: int = MAX_EXCERPT_CHARS) -> str:
    """``value`` cut to ``limit`` characters with control characters and surrogates escaped."""
    return _UNSAFE.sub(_escape, value[:limit])
