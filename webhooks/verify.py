"""Pure checks of who sent a webhook: Returnly HMAC signatures and AMS callback tokens.

Every comparison of a secret goes through :func:`hmac.compare_digest`. Failures raise
:class:`~webhooks.errors.WebhookAuthError` with a reason that never quotes the secret, the
signature or the token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import SecretStr

from webhooks.errors import WebhookAuthError
from webhooks.limits import MAX_SIGNATURE_HEADER_CHARS, MAX_SIGNATURES, MAX_TIMESTAMP_DIGITS

TokenForm = Literal["bearer", "raw_header", "body"]
"""Where an AMS callback carried its token (contracts §B.6 accepts all three)."""

SIGNATURE_PREFIX = "sha256="
_SPLIT = re.compile(r"[,\s]+")
_BEARER = re.compile(r"^bearer\s+", re.IGNORECASE)
_TIMESTAMP = re.compile(rf"[0-9]{{1,{MAX_TIMESTAMP_DIGITS}}}")


def _raw(secret: SecretStr | str) -> bytes:
    value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return value.encode()


def returnly_signature(secret: SecretStr | str, timestamp: str, raw_body: bytes) -> str:
    """Hex HMAC-SHA256 of ``f"{timestamp}." + body``, the value Returnly's header carries."""
    return hmac.new(_raw(secret), f"{timestamp}.".encode() + raw_body, hashlib.sha256).hexdigest()


def parse_timestamp(timestamp: str | None) -> str:
    """``X-Returnly-Timestamp``, unix seconds: 1-12 ASCII digits, nothing else (401).

    Returned as sent, because the signature covers the text, not the number.
    """
    if timestamp is None or not _TIMESTAMP.fullmatch(timestamp):
        raise WebhookAuthError("missing or malformed timestamp")
    return timestamp


def parse_signatures(header: str | None) -> list[str]:
    """The candidate signatures of ``X-Returnly-Signature``, bounded in length and number.

    Each is ``sha256=<hex>`` or bare hex; several are separated by commas or spaces.
    """
    if not header or not header.strip():
        raise WebhookAuthError("missing signature")
    if len(header) > MAX_SIGNATURE_HEADER_CHARS:
        raise WebhookAuthError("malformed signature header")
    candidates = [c for c in _SPLIT.split(header.strip()) if c]
    if len(candidates) > MAX_SIGNATURES:
        raise WebhookAuthError("malformed signature header")
    return [c[len(SIGNATURE_PREFIX) :] if c.startswith(SIGNATURE_PREFIX) else c for c in candidates]


def check_returnly_headers(timestamp: str | None, header: str | None) -> tuple[str, list[str]]:
    """Both signature headers parsed strictly, before any lookup or body read (401)."""
    signatures = parse_signatures(header)
    return parse_timestamp(timestamp), signatures


def verify_returnly_signature(
    secret: SecretStr | str,
    timestamp: str | None,
    raw_body: bytes,
    header: str | None,
    now: float,
    tolerance: float,
) -> None:
    """Accept the delivery only if the timestamp is fresh and a signature in ``header`` matches.

    ``header`` holds ``sha256=<hex>`` or bare hex; several values separated by commas or
    spaces are accepted (one per active secret while a secret is rotated).
    """
    ts, candidates = check_returnly_headers(timestamp, header)
    if abs(now - int(ts)) > tolerance:
        raise WebhookAuthError("stale timestamp")
    if not _raw(secret):
        raise WebhookAuthError("no webhook secret configured")
    expected = returnly_signature(secret, ts, raw_body).encode()
    matched = False
    for value in candidates:
        # No early exit: every candidate is compared, so timing says nothing about which.
        matched |= hmac.compare_digest(value.lower().encode(), expected)
    if not matched:
        raise WebhookAuthError("signature mismatch")


@dataclass(frozen=True)
class AmsToken:
    """A token found in a callback and where it was; the value never shows in a repr."""

    value: SecretStr
    form: TokenForm


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that works on plain dicts too."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _body_token(body: Any) -> str | None:
    """``token`` of the envelope, or of every envelope of an array when they all agree."""
    envelopes = body if isinstance(body, list) else [body]
    tokens = [e.get("token") if isinstance(e, dict) else None for e in envelopes]
    if not tokens or not all(isinstance(t, str) and t for t in tokens):
        return None
    first = tokens[0]
    return first if isinstance(first, str) and all(t == first for t in tokens) else None


def header_ams_token(headers: Mapping[str, str]) -> AmsToken | None:
    """``Authorization: Bearer <t>`` or a bare ``Authorization: <t>``; None without one."""
    auth = _header(headers, "authorization")
    if auth is None or not auth.strip():
        return None
    value = auth.strip()
    if _BEARER.match(value):
        return AmsToken(SecretStr(_BEARER.sub("", value, count=1).strip()), "bearer")
    return AmsToken(SecretStr(value), "raw_header")


def body_ams_token(body: Any) -> AmsToken | None:
    """``token`` of the (parsed) envelope, or of every envelope of an array when they agree."""
    token = _body_token(body)
    return AmsToken(SecretStr(token), "body") if token is not None else None


def extract_ams_token(headers: Mapping[str, str], body: Any) -> AmsToken | None:
    """The callback's token: ``Authorization: Bearer <t>``, bare ``Authorization: <t>``, or body.

    A present ``Authorization`` header wins over the body.
    """
    return header_ams_token(headers) or body_ams_token(body)


def check_ams_token(expected: SecretStr, found: AmsToken | None) -> TokenForm:
    """Compare a found token with the expected one in constant time; its form if it matches."""
    if found is None:
        raise WebhookAuthError("missing token")
    if not expected.get_secret_value():
        raise WebhookAuthError("no callback token configured")
    if not hmac.compare_digest(_raw(found.value), _raw(expected)):
        raise WebhookAuthError(f"wrong token ({found.form})")
    return found.form


def verify_ams_token(expected: SecretStr, headers: Mapping[str, str], body: Any) -> TokenForm:
    """Check the callback token in constant time; return the form it came in."""
    return check_ams_token(expected, extract_ams_token(headers, body))
