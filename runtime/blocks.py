"""A merchant's configuration as a Prefect block, so operators manage merchants in the UI.

The block mirrors :class:`core.merchant.MerchantConfig` field for field; the merchant's name is
the block document's name (``merchant-config/<name>``). Secrets are ``SecretStr``: the server
stores them encrypted and the UI and API show them masked (PREFECT_NOTES §8). ``core`` stays
free of Prefect: :mod:`runtime.merchants` resolves a block into a plain ``MerchantConfig`` with
:meth:`to_config`.
"""

from __future__ import annotations

from typing import ClassVar

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from core.merchant import MerchantConfig
from core.policy import MerchantPolicy

BLOCK_TYPE_SLUG = "merchant-config"
RETURNLY_PRODUCTION_URL = "https://api.returnly.com"
AMS_PRODUCTION_URL = "https://app.masonhub.co"
"""AMS host; the client appends ``/<account>/api/v1`` (sandbox: https://sandbox.masonhub.co)."""


class MerchantBlock(Block):
    """One merchant served by the bridge: where its Returnly and AMS accounts live, its secrets
    and its policy. The block's name is the merchant's slug."""

    _block_type_name: ClassVar[str] = "Merchant Config"
    _block_type_slug: ClassVar[str] = BLOCK_TYPE_SLUG
    _description: ClassVar[str] = (
        "A merchant of the Returnly <-> AMS bridge: endpoints, tokens (secret), refund policy."
    )

    platform: str = Field(
        default="returnly",
        description="The merchant's returns platform: returnly (Loop is a later adapter).",
    )
    store_url: str = Field(
        default="https://shop.example.com", description="The merchant's storefront URL."
    )
    returnly_base_url: str = Field(
        default=RETURNLY_PRODUCTION_URL, description="Returnly API root (no trailing slash)."
    )
    returnly_api_token: SecretStr = Field(description="Returnly API token (X-Api-Token).")
    returnly_api_version: str = Field(default="2020-08", description="X-Api-Version header.")
    returnly_refund_path: str = Field(
        default="/refunds.json", description="Refund endpoint (an assumption, contracts §A.8.4)."
    )
    returnly_webhook_secret: SecretStr = Field(
        description="Secret the Returnly webhooks are signed with."
    )
    ams_base_url: str = Field(
        default=AMS_PRODUCTION_URL,
        description="AMS host; /<account>/api/v1 is appended by the client.",
    )
    ams_account: str = Field(description="The merchant's AMS URL slug.")
    ams_api_token: SecretStr = Field(description="AMS bearer token.")
    ams_callback_token: SecretStr = Field(
        description="Token AMS sends with every rmaEvent callback (checked by the receiver)."
    )
    timezone: str = Field(default="UTC", description="IANA timezone of the merchant.")
    policy: MerchantPolicy = Field(
        default_factory=MerchantPolicy,
        description="Reason-code map, refund rule per inventory status, exchanges, gifts.",
    )

    def to_config(self, name: str | None = None) -> MerchantConfig:
        """The plain configuration the tasks use; ``name`` defaults to the block's name."""
        merchant = name or self._block_document_name
        if not merchant:
            raise ValueError("a merchant block needs a name (save it, or pass name=)")
        return MerchantConfig(name=merchant, **self.model_dump(include=set(_FIELDS)))

    @classmethod
    def from_config(cls, config: MerchantConfig) -> MerchantBlock:
        """The block for a configuration (save it under ``config.name``)."""
        return cls(**{f: getattr(config, f) for f in _FIELDS})


_FIELDS: tuple[str, ...] = tuple(f for f in MerchantConfig.model_fields if f != "name")
"""Every MerchantConfig field but the name, which is the block document's name."""
