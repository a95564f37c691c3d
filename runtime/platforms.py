"""Which returns platform serves a merchant: the registry from ``MerchantConfig.platform`` to
the adapter, built over the shared, rate-gated client of :mod:`runtime.resources`.

Adding a platform: its adapter in a folder under ``platforms/`` and one entry in
:data:`PLATFORMS`. A merchant naming a platform not in it is refused when it is loaded
(:class:`UnknownPlatformError`), not at its first refund.
"""

from __future__ import annotations

from collections.abc import Callable

from core.merchant import MerchantConfig
from platforms import ReturnlyPlatform, ReturnsPlatform
from runtime.resources import returnly_client

PlatformFactory = Callable[[MerchantConfig], ReturnsPlatform]


def _returnly(merchant: MerchantConfig) -> ReturnsPlatform:
    return ReturnlyPlatform(returnly_client(merchant))


PLATFORMS: dict[str, PlatformFactory] = {
    "returnly": _returnly,
}
"""Platform name (the merchant's ``platform``) to the factory of its adapter."""


class UnknownPlatformError(ValueError):
    """A merchant's configuration names a returns platform the bridge has no adapter for."""


def check_platform(merchant: MerchantConfig, origin: str) -> MerchantConfig:
    """The merchant, if its platform is one in :data:`PLATFORMS`; ``origin`` names the fix."""
    if merchant.platform not in PLATFORMS:
        known = ", ".join(sorted(PLATFORMS))
        raise UnknownPlatformError(
            f"merchant {merchant.name!r} from {origin} names platform {merchant.platform!r}, "
            f"which the bridge has no adapter for (known: {known})"
        )
    return merchant


def returns_platform(merchant: MerchantConfig) -> ReturnsPlatform:
    """The merchant's returns platform (its shared client behind the adapter)."""
    return PLATFORMS[check_platform(merchant, "its configuration").platform](merchant)
