"""Settings for the bridge, read from the environment (prefix ``BRIDGE_``) and ``.env``.

The defaults point at the local sandboxes, so the demo and tests need no configuration.
Switching to the real services is a base URL and a token per system, nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SANDBOX_RETURNLY_TOKEN = "sandbox-returnly-token"
SANDBOX_AMS_TOKEN = "sandbox-ams-token"
SANDBOX_CALLBACK_TOKEN = "sandbox-callback-token"
SANDBOX_WEBHOOK_SECRET = "sandbox-webhook-secret"
SANDBOX_ACCOUNT = "sandbox-merchant"
MERCHANT_SOURCES = ("file", "settings", "blocks")
"""Where merchants can come from (``BRIDGE_MERCHANT_SOURCES``, see :mod:`runtime`)."""
_PLACEHOLDERS = {
    SANDBOX_RETURNLY_TOKEN,
    SANDBOX_AMS_TOKEN,
    SANDBOX_CALLBACK_TOKEN,
    SANDBOX_WEBHOOK_SECRET,
}


class MerchantLike(Protocol):
    """What the production check needs of a merchant (``core.merchant`` imports this module)."""

    def require_real_secrets(self, origin: str) -> object: ...


def is_placeholder(secret: SecretStr) -> bool:
    """Whether a secret is one of the sandbox's published placeholders (never real)."""
    return secret.get_secret_value() in _PLACEHOLDERS


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )


class ReturnlySettings(BaseSettings):
    """Returnly API access (env prefix ``BRIDGE_RETURNLY_``)."""

    model_config = _config("BRIDGE_RETURNLY_")

    base_url: str = "http://127.0.0.1:8701"
    api_token: SecretStr = SecretStr(SANDBOX_RETURNLY_TOKEN)
    api_version: str = "2020-08"
    refund_path: str = "/refunds.json"
    """The refund endpoint is an assumption (contracts §A.8.4), hence configurable."""
    send_status_filter: bool = False
    """Send ``status=`` to the list endpoint (unverified upstream); always re-filtered locally."""
    webhook_secret: SecretStr = SecretStr(SANDBOX_WEBHOOK_SECRET)


class AmsSettings(BaseSettings):
    """MasonHub AMS access (env prefix ``BRIDGE_AMS_``)."""

    model_config = _config("BRIDGE_AMS_")

    base_url: str = "http://127.0.0.1:8702"
    account: str = SANDBOX_ACCOUNT
    api_token: SecretStr = SecretStr(SANDBOX_AMS_TOKEN)
    callback_token: SecretStr = SecretStr(SANDBOX_CALLBACK_TOKEN)
    return_inventory_status: str = "qc"
    """Requested inventory status sent on each RMA line (contracts §B.9)."""
    refund_statuses: list[str] = ["available"]
    """Received inventory statuses refunded in full (JSON list); all others go to review."""


class LedgerSettings(BaseSettings):
    """Where the ledger lives (env prefix ``BRIDGE_LEDGER_``)."""

    model_config = _config("BRIDGE_LEDGER_")

    url: str = ""
    """Any SQLAlchemy URL; empty means a SQLite file at ``path``."""
    path: Path = Path("var/ledger.db")
    lease_ttl_s: float | None = Field(None, gt=0)
    """Time to live of refund/RMA leases; None keeps the ledger's default (600 s)."""

    def sqlalchemy_url(self) -> str:
        """The URL to connect to."""
        return self.url or f"sqlite:///{self.path}"


class MerchantSourceSettings(BaseSettings):
    """Where merchants come from (``BRIDGE_MERCHANT_SOURCES``, ``BRIDGE_MERCHANTS_FILE``)."""

    model_config = _config("BRIDGE_")

    merchant_sources: str = ""
    """Comma list of ``file``, ``settings``, ``blocks``; empty: file (when set) or settings,
    then blocks."""
    merchants_file: str = ""
    """A JSON list of merchant configurations (the ``file`` source)."""
    mode: Literal["local", "production"] = "local"
    """``BRIDGE_MODE``: in production no merchant may run on the sandbox placeholder secrets."""

    def admit(self, merchant: MerchantLike, origin: str) -> None:
        """Refuse, in production, a merchant from ``origin`` holding placeholder secrets."""
        if self.mode == "production":
            merchant.require_real_secrets(origin)

    def sources(self) -> list[str]:
        """The sources in effect, in order; an unknown name is an error."""
        raw = self.merchant_sources.strip()
        if not raw:
            return ["file" if self.merchants_file else "settings", "blocks"]
        sources = [s.strip() for s in raw.split(",") if s.strip()]
        unknown = sorted(set(sources) - set(MERCHANT_SOURCES))
        if unknown:
            raise ValueError(f"BRIDGE_MERCHANT_SOURCES: unknown source(s) {', '.join(unknown)}")
        return sources


class BridgeSettings(BaseSettings):
    """Everything, grouped by system (env prefix ``BRIDGE_``)."""

    model_config = _config("BRIDGE_")

    mode: Literal["local", "production"] = "local"
    reports_dir: Path = Path("var/reports")
    returnly: ReturnlySettings = ReturnlySettings()
    ams: AmsSettings = AmsSettings()
    ledger: LedgerSettings = LedgerSettings()

    @model_validator(mode="after")
    def _no_placeholders_in_production(self) -> BridgeSettings:
        """The settings merchant must not run on the sandbox secrets in production.

        Only checked when that merchant is in use: with merchants from blocks (or a file)
        only, the secrets live there and these settings hold none.
        """
        if self.mode != "production" or "settings" not in MerchantSourceSettings().sources():
            return self
        named = {
            "BRIDGE_RETURNLY_API_TOKEN": self.returnly.api_token,
            "BRIDGE_RETURNLY_WEBHOOK_SECRET": self.returnly.webhook_secret,
            "BRIDGE_AMS_API_TOKEN": self.ams.api_token,
            "BRIDGE_AMS_CALLBACK_TOKEN": self.ams.callback_token,
        }
        bad = [k for k, v in named.items() if is_placeholder(v)]
        if bad:
            raise ValueError(
                f"sandbox placeholder secrets in production mode: {', '.join(bad)} (set them, "
                "or BRIDGE_MERCHANT_SOURCES=blocks when every merchant is a merchant-config block)"
            )
        return self


def load_settings() -> BridgeSettings:
    """Read the settings afresh (the environment may have changed, e.g. in tests)."""
    return BridgeSettings(returnly=ReturnlySettings(), ams=AmsSettings(), ledger=LedgerSettings())
