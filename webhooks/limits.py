"""What the receiver accepts, in one place: sizes, depths, lengths, timeouts (README "Security")."""

from __future__ import annotations

MAX_BODY_BYTES = 1_048_576
"""Largest request body, checked on ``Content-Length`` and again while the body streams in."""

MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects; a Returnly return document is about 6 deep."""

MAX_NUMBER_CHARS = 40
"""Longest number literal (digits, sign, dot, exponent); longer ones are refused unparsed."""

MAX_AMS_ENVELOPES = 30
"""Envelopes in one AMS callback body (MasonHub's schema: an array of at most 30)."""

MAX_AMS_ITEMS = 300
"""Data items across all envelopes of one callback (not documented by MasonHub: ours)."""

MAX_TIMESTAMP_DIGITS = 12
"""``X-Returnly-Timestamp``: unix seconds, ASCII digits only."""

MAX_SIGNATURE_HEADER_CHARS = 1024
"""``X-Returnly-Signature``: room for a handful of ``sha256=<64 hex>`` values."""

MAX_SIGNATURES = 8
"""Signatures in one header (one per active secret while a secret is rotated)."""

MAX_HEADER_BYTES = 16_384
"""Request line plus headers (h11's incomplete-event limit); beyond it the answer is 400."""

HEADER_TIMEOUT_S = 10.0
"""A connection must finish sending its request headers this soon after it opens (or after
the previous response on a kept-alive connection); otherwise it gets a 408 and is closed."""

BODY_TIMEOUT_S = 10.0
"""The whole body must arrive this soon after the headers; otherwise 408."""

KEEP_ALIVE_S = 5
"""An idle kept-alive connection is closed after this long (uvicorn's ``timeout_keep_alive``)."""

MAX_EXCERPT_CHARS = 200
"""Longest text kept from a claimed value in a rejection record."""

SIGNATURE_TOLERANCE_S = 300
"""How far a Returnly timestamp may be from the receiver's clock."""
