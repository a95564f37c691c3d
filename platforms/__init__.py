"""The returns-platform room: the interface the stages use and one folder per platform.

:mod:`platforms.base` is the interface (:class:`ReturnsPlatform`) and the bridge's return
model; :mod:`platforms.returnly` is Returnly's adapter. A new platform is a new folder here
plus one entry in :data:`runtime.platforms.PLATFORMS` (ARCHITECTURE.md, "Adding a platform").
Prefect-free, and below the stages and the runtime (pyproject's import contracts).
"""

from typing import TypeAlias

from clients.returnly import ReturnlyClient
from platforms.base import (
    CANCELLED_STATUSES,
    KNOWN_STATUSES,
    Capabilities,
    PlatformErrors,
    Refund,
    RefundQueued,
    Return,
    ReturnsPlatform,
)
from platforms.returnly import ReturnlyPlatform

__all__ = [
    "CANCELLED_STATUSES",
    "KNOWN_STATUSES",
    "Capabilities",
    "PlatformErrors",
    "PlatformLike",
    "Refund",
    "RefundQueued",
    "Return",
    "ReturnlyPlatform",
    "ReturnsPlatform",
    "as_platform",
]


PlatformLike: TypeAlias = ReturnsPlatform | ReturnlyClient
"""What the stages' entry points accept: the platform, or a bare Returnly client (callers from
before the seam: the integration tests, the bench scripts), wrapped by :func:`as_platform`."""


def as_platform(source: PlatformLike) -> ReturnsPlatform:
    """The platform itself, or a bare Returnly client wrapped in its adapter.

    Why: the stages' callers from before the seam (the integration tests, bench scripts) hand
    the stages a ``ReturnlyClient``; the stages wrap it here once at their entry.
    """
    if isinstance(source, ReturnlyClient):
        return ReturnlyPlatform(source)
    return source
