"""Text fitting for AMS length limits (contracts §B.3); limits count characters, not bytes.

Values are NFC-normalised first so an accented letter typed as letter + combining mark counts
as one character, then whitespace runs collapse to one space. Unicode is otherwise kept.
"""

from __future__ import annotations

import re
import unicodedata

ELLIPSIS = "…"
"""Marks a cut note; one character, so a cut note still fits its limit."""

_SPACES = re.compile(r"\s+")


def clean(value: str | None) -> str:
    """NFC, single spaces, stripped; ``None`` becomes ``""``."""
    if value is None:
        return ""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", value)).strip()


def truncate(value: str, limit: int) -> str:
    """The first ``limit`` characters, without a dangling space."""
    return value if len(value) <= limit else value[:limit].rstrip()


def truncate_marked(value: str, limit: int) -> str:
    """Like :func:`truncate` but ends a cut value with an ellipsis, so readers see the cut."""
    if len(value) <= limit:
        return value
    return value[: limit - 1].rstrip() + ELLIPSIS


def split_at_word(value: str, limit: int) -> tuple[str, str] | None:
    """Split before the last space that leaves a head of at most ``limit`` characters.

    Returns ``(head, rest)``, or ``None`` when the first word alone is longer than the limit.
    """
    if len(value) <= limit:
        return value, ""
    cut = value.rfind(" ", 0, limit + 1)
    if cut <= 0:
        return None
    return value[:cut].rstrip(), value[cut + 1 :].lstrip()
