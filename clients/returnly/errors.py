"""Returnly's error tree, built from the shared kinds in :mod:`clients.errors`.

ReturnlyError
├── ReturnlyAPIError
│   ├── ReturnlyAuthError · ReturnlyNotFoundError · ReturnlyConflictError
│   ├── ReturnlyValidationError · ReturnlyRateLimitedError · ReturnlyServerError
├── ReturnlyConnectionError · ReturnlyTimeoutError
└── ReturnlyResponseError       2xx with an unreadable body

"""

from __future__ import annotations

from clients import errors
from clients.http import ErrorFamily


class ReturnlyError(errors.BridgeClientError):
    """Base of Returnly errors."""


class ReturnlyAPIError(ReturnlyError, errors.APIStatusError):
    """Returnly answered with a non-2xx status."""


class ReturnlyAuthError(ReturnlyAPIError, errors.AuthError):
    """401/403 from Returnly."""


class ReturnlyNotFoundError(ReturnlyAPIError, errors.NotFoundError):
    """404 from Returnly."""


class ReturnlyConflictError(ReturnlyAPIError, errors.ConflictError):
    """409 from Returnly (e.g. a second refund of the same return)."""


class ReturnlyValidationError(ReturnlyAPIError, errors.ValidationError):
    """400/422 from Returnly."""


class ReturnlyRateLimitedError(ReturnlyAPIError, errors.RateLimitedError):
    """429 from Returnly."""


class ReturnlyServerError(ReturnlyAPIError, errors.ServerError):
    """5xx from Returnly."""


class ReturnlyConnectionError(ReturnlyError, errors.ConnectionFailedError):
    """Could not reach Returnly."""


class ReturnlyResponseError(ReturnlyError, errors.ResponseFormatError):
    """Returnly answered 2xx with a body the client cannot read."""


class ReturnlyTimeoutError(ReturnlyError, errors.RequestTimeoutError):
    """Returnly did not answer in time."""


RETURNLY_ERRORS = ErrorFamily(
    api=ReturnlyAPIError,
    auth=ReturnlyAuthError,
    not_found=ReturnlyNotFoundError,
    conflict=ReturnlyConflictError,
    validation=ReturnlyValidationError,
    rate_limited=ReturnlyRateLimitedError,
    server=ReturnlyServerError,
    connection=ReturnlyConnectionError,
    timeout=ReturnlyTimeoutError,
    response=ReturnlyResponseError,
)
