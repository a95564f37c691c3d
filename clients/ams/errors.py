"""AMS (MasonHub)'s error tree, built from the shared kinds in :mod:`clients.errors`.

AmsError
├── AmsAPIError
│   ├── AmsAuthError · AmsNotFoundError · AmsConflictError
│   ├── AmsValidationError · AmsRateLimitedError · AmsServerError
├── AmsConnectionError · AmsTimeoutError
└── AmsResponseError       2xx with an unreadable body
"""

from __future__ import annotations

from clients import errors
from clients.http import ErrorFamily


class AmsError(errors.BridgeClientError):
    """Base of Ams errors."""


class AmsAPIError(AmsError, errors.APIStatusError):
    """AMS answered with a non-2xx status."""


class AmsAuthError(AmsAPIError, errors.AuthError):
    """401/403 from AMS."""


class AmsNotFoundError(AmsAPIError, errors.NotFoundError):
    """404 from AMS."""


class AmsConflictError(AmsAPIError, errors.ConflictError):
    """409 from AMS."""


class AmsValidationError(AmsAPIError, errors.ValidationError):
    """400/422 from AMS."""


class AmsRateLimitedError(AmsAPIError, errors.RateLimitedError):
    """429 from AMS."""


class AmsServerError(AmsAPIError, errors.ServerError):
    """5xx from AMS."""


class AmsConnectionError(AmsError, errors.ConnectionFailedError):
    """Could not reach AMS."""


class AmsResponseError(AmsError, errors.ResponseFormatError):
    """AMS answered 2xx with a body the client cannot read."""


class AmsTimeoutError(AmsError, errors.RequestTimeoutError):
    """AMS did not answer in time."""


AMS_ERRORS = ErrorFamily(
    api=AmsAPIError,
    auth=AmsAuthError,
    not_found=AmsNotFoundError,
    conflict=AmsConflictError,
    validation=AmsValidationError,
    rate_limited=AmsRateLimitedError,
    server=AmsServerError,
    connection=AmsConnectionError,
    timeout=AmsTimeoutError,
    response=AmsResponseError,
)
