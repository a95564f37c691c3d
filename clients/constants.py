"""Tunables of the client layer, in one place."""

DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_READ_TIMEOUT_S = 30.0
DEFAULT_MAX_RETRIES = 3
"""Attempts after the first one, for idempotent calls only."""
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0
RETRY_AFTER_CAP_S = 60.0
"""A server asking us to wait longer than this gets an error instead of a stuck worker."""
