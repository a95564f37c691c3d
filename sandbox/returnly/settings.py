"""Admin-tunable rendering of the Returnly sandbox (``GET``/``PUT /_admin/settings``).

``POST /_admin/reset`` restores the defaults.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from sandbox.returnly.render import DEFAULT_EMPTY_TO_ONE, EmptyToOne


class SandboxSettings(BaseModel):
    """How the sandbox renders documents; every field has the production-like default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    empty_to_one: EmptyToOne = DEFAULT_EMPTY_TO_ONE
    """A to-one relationship without a record (``instant_refund_voucher`` of a return with no
    voucher): ``absent`` (left out, the default), ``empty_list`` (``{"data": []}``) or
    ``null`` (``{"data": null}``). To-many relationships are always ``{"data": [...]}``."""
