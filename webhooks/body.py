"""Check the body's declared size, type and encoding, and read it within a size and time limit."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping

from starlette.requests import ClientDisconnect, Request

from webhooks.errors import (
    WebhookPayloadError,
    WebhookTimeoutError,
    WebhookTooLargeError,
    WebhookUnsupportedMediaError,
)
from webhooks.grammar import printable
from webhooks.limits import BODY_TIMEOUT_S

_LENGTH = re.compile(r"[0-9]{1,19}")
_JSON = "application/json"
_UTF8 = ("utf-8", "utf8")


def check_declared_length(content_length: str | None, max_bytes: int) -> None:
    """Refuse early when ``Content-Length`` is not plain digits or already says too large."""
    if content_length is None:
        return
    if not _LENGTH.fullmatch(content_length):
        raise WebhookPayloadError("malformed Content-Length")
    declared = int(content_length)
    if declared > max_bytes:
        raise WebhookTooLargeError(f"body of {declared} bytes exceeds {max_bytes}")


def check_media(headers: Mapping[str, str]) -> None:
    """415 unless the body is identity-encoded JSON in UTF-8.

    A missing ``Content-Type`` is read as JSON (some senders omit it); a present one must be
    ``application/json``, with at most a ``charset`` of UTF-8.
    """
    encoding = headers.get("content-encoding")
    if encoding is not None and encoding.strip().lower() not in ("", "identity"):
        raise WebhookUnsupportedMediaError(
            f"Content-Encoding {printable(encoding, 40)!r} is not supported (send identity)"
        )
    content_type = headers.get("content-type")
    if content_type is None:
        return
    media, *params = content_type.split(";")
    if media.strip().lower() != _JSON:
        raise WebhookUnsupportedMediaError("Content-Type must be application/json")
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in _UTF8:
            raise WebhookUnsupportedMediaError("Content-Type charset must be utf-8")


async def read_limited(
    request: Request, max_bytes: int, timeout_s: float = BODY_TIMEOUT_S
) -> bytes:
    """The body, counted while it streams in and cut off after ``timeout_s`` (408).

    Chunked uploads cannot slip past the size limit, and a sender that stalls mid-body
    cannot hold the request open.
    """
    check_declared_length(request.headers.get("content-length"), max_bytes)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise WebhookTooLargeError(f"body exceeds {max_bytes} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise WebhookTimeoutError(f"body not received within {timeout_s:g} s") from None
    except ClientDisconnect:
        raise WebhookPayloadError("the sender disconnected before the body was complete") from None
    return b"".join(chunks)
