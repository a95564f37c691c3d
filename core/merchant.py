"""A merchant's configuration: where its two systems live, its secrets and its policy.

Plain pydantic so that core stays free of Prefect; ``deployments`` wraps it in a Prefect block
for operators. The sandbox merchant is built from settings, so the demo needs no set-up.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from core.policy import REFUND, MerchantPolicy
from core.settings import BridgeSettings, is_placeholder, load_settings

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class MerchantConfig(BaseModel):
    """Everything the bridge needs to serve one merchant. Secrets are ``SecretStr``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=SLUG_PATTERN, description="Slug used in ids, tags and URLs.")
    platform: str = Field(
        default="returnly",
        description="The merchant's returns platform (a name in runtime.platforms.PLATFORMS).",
    )
    store_url: str = "https://shop.example.com"
    returnly_base_url: str
    returnly_api_token: SecretStr
    returnly_api_version: str = "2020-08"
    returnly_refund_path: str = "/refunds.json"
    returnly_webhook_secret: SecretStr
    ams_base_url: str
    ams_account: str
    ams_api_token: SecretStr
    ams_callback_token: SecretStr
    timezone: str = "UTC"
    policy: MerchantPolicy = Field(default_factory=MerchantPolicy)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    def placeholder_secrets(self) -> list[str]:
        """Names of the secret fields still holding a sandbox placeholder (values never)."""
        return [name for name, value in self._secrets().items() if is_placeholder(value)]

    def require_real_secrets(self, origin: str) -> MerchantConfig:
        """Refuse a production merchant that would run on the sandbox's published secrets.

        ``origin`` says where the configuration came from, so the message points at the fix.
        """
        bad = self.placeholder_secrets()
        if bad:
            raise ValueError(
                f"merchant {self.name!r} from {origin} has sandbox placeholder secrets in "
                f"production mode: {', '.join(bad)}"
            )
        return self

    def _secrets(self) -> dict[str, SecretStr]:
        return {
            "returnly_api_token": self.returnly_api_token,
            "returnly_webhook_secret": self.returnly_webhook_secret,
            "ams_api_token": self.ams_api_token,
            "ams_callback_token": self.ams_callback_token,
        }

    def secret_values(self) -> list[str]:
        """The raw secrets, for log redaction only."""
        return [s.get_secret_value() for s in self._secrets().values() if s.get_secret_value()]


def merchant_from_settings(
    name: str | None = None, settings: BridgeSettings | None = None
) -> MerchantConfig:
    """The merchant described by the BRIDGE_ settings (the sandbox merchant by default)."""
    s = settings or load_settings()
    return MerchantConfig(
        name=name or s.ams.account,
        returnly_base_url=s.returnly.base_url,
        returnly_api_token=s.returnly.api_token,
        returnly_api_version=s.returnly.api_version,
        returnly_refund_path=s.returnly.refund_path,
        returnly_webhook_secret=s.returnly.webhook_secret,
        ams_base_url=s.ams.base_url,
        ams_account=s.ams.account,
        ams_api_token=s.ams.api_token,
        ams_callback_token=s.ams.callback_token,
        policy=MerchantPolicy(
            return_inventory_status=s.ams.return_inventory_status,
            inventory_status_policy=dict.fromkeys(s.ams.refund_statuses, REFUND),
        ),
    )
