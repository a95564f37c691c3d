"""Why a webhook request is refused: each error carries its HTTP status and a safe reason.

Reasons are written for the sender and the ledger, so they never quote a secret, a token,
a signature or the body.
"""

from __future__ import annotations


class WebhookError(Exception):
    """A refused request; ``status`` is the HTTP answer, ``reason`` is safe to show and store."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebhookAuthError(WebhookError):
    """Missing or wrong signature, stale timestamp, missing or wrong token (401)."""

    status = 401


class WebhookPayloadError(WebhookError):
    """Malformed JSON or a required field missing (400)."""

    status = 400


class WebhookTooLargeError(WebhookError):
    """The body is larger than the configured limit (413)."""

    status = 413


class WebhookUnknownMerchantError(WebhookError):
    """The merchant in the URL is not configured (404)."""

    status = 404


class WebhookTimeoutError(WebhookError):
    """The body did not arrive in time (408)."""

    status = 408


class WebhookUnsupportedMediaError(WebhookError):
    """A Content-Type other than JSON or a Content-Encoding other than identity (415)."""

    status = 415


class WebhookRouteError(WebhookError):
    """No endpoint takes the request: an unknown path (404) or method (405)."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.status = status
