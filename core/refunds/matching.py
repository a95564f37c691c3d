"""Which refund on the platform is ours: matching a found refund to the attempt that claimed it.

After a crash or a lost answer the bridge cannot know whether its POST took effect, so it
reads the return and matches what it finds against its claim, in this order:

1. **Key**: a refund whose note carries the claim's refund key was made by that claim's POST
   (the bridge writes the key into every refund note). Exactly one: it is ours, made by us.
2. **Lines**: otherwise, a return with exactly one refund whose line items (return line id ->
   units) equal the claim's lines, or, when the platform reports no line items, whose amount
   equals the claim's expected amount, is taken as the claim's refund (found, not proven).
3. **Anything else is ambiguous** (several refunds, or one that differs): a person decides.
   The bridge never posts again for a return that shows any refund.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from clients.returnly.models import Refund

MatchKind = Literal["by_key", "by_lines", "ambiguous", "none"]


@dataclass(frozen=True)
class RefundMatch:
    """The refund found for a claim, and how sure the match is."""

    kind: MatchKind
    refund: Refund | None = None
    reason: str = ""

    @property
    def matched(self) -> bool:
        """True when one refund could be attributed to the claim."""
        return self.refund is not None


def _lines_of(refund: Refund) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in refund.line_items:
        out[item.return_line_item_id] = out.get(item.return_line_item_id, 0) + item.units
    return out


def _as_decimal(value: object) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def match_refund(
    refunds: Sequence[Refund],
    key: str,
    lines: Mapping[str, int],
    expected_amount: Decimal | None = None,
) -> RefundMatch:
    """Attribute one of ``refunds`` (those a return shows) to the claim ``key`` for ``lines``."""
    if not refunds:
        return RefundMatch("none", reason="the return shows no refund")
    keyed = [r for r in refunds if r.note and key in r.note]
    if len(keyed) == 1:
        return RefundMatch("by_key", keyed[0], f"refund {keyed[0].id} carries key {key}")
    if len(keyed) > 1:
        ids = ", ".join(r.id for r in keyed)
        return RefundMatch("ambiguous", reason=f"{len(keyed)} refunds carry key {key}: {ids}")
    if len(refunds) > 1:
        ids = ", ".join(r.id for r in refunds)
        return RefundMatch("ambiguous", reason=f"the return shows {len(refunds)} refunds: {ids}")
    only = refunds[0]
    found_lines = _lines_of(only)
    if found_lines:
        if found_lines == dict(lines):
            return RefundMatch("by_lines", only, f"refund {only.id} has the claimed lines")
        return RefundMatch(
            "ambiguous",
            reason=f"refund {only.id} has lines {found_lines}, the claim {dict(lines)}",
        )
    found_amount = _as_decimal(only.refund_amount)
    if expected_amount is not None and found_amount == expected_amount:
        return RefundMatch("by_lines", only, f"refund {only.id} has the expected amount")
    return RefundMatch(
        "ambiguous",
        reason=f"refund {only.id} reports no lines and amount {found_amount}, "
        f"expected {expected_amount}",
    )
