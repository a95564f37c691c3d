"""Read a request body without ever holding more than the configured limit."""

from __future__ import annotations

from starlette.requests import Request

from webhooks.errors import WebhookPayloadError, WebhookTooLargeError


def check_declared_length(content_length: str | None, max_bytes: int) -> None:
    """Refuse early when ``Content-Length`` already says the body is too large."""
    if content_length is None:
        return
    try:
        declared = int(content_length)
    except ValueError:
        raise WebhookPayloadError("malformed Content-Length") from None
    if declared < 0:
        raise WebhookPayloadError("malformed Content-Length")
    if declared > max_bytes:
        raise WebhookTooLargeError(f"body of {declared} bytes exceeds {max_bytes}")


async def read_limited(request: Request, max_bytes: int) -> bytes:
    """The body, counted while it streams in: chunked uploads cannot slip past the limit."""
    check_declared_length(request.headers.get("content-length"), max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise WebhookTooLargeError(f"body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
