"""A Returnly return -> an AMS RMA create record (contracts §B.3, §B.11).

- ``customer_identifier`` = ``RLY-<return id>``; ``manifest_id`` = the RMA number (its last 20
  characters when longer, with the full number in ``customer_instructions``).
- ``return_type`` is always ``rma_submitted_by_customer`` (§B.9).
- Label: when Returnly issued a label, ``generate_return_label=false`` and ``package_id`` is the
  first label's tracking number (further labels are listed in ``customer_instructions``); the
  address is then informational and sent only when it is a complete US address (otherwise left
  out, with an adjustment). Without a Returnly label AMS generates one, which needs a complete
  US address: a non-US or incomplete address holds the return.
- Exchanges and gift returns still ship back to the warehouse, so they get an RMA by default,
  flagged in ``customer_instructions``; the policy can hold them instead.
- Any issue holds the whole return: the result then carries every issue found, not just the
  first, so one review fixes them all.
"""

from __future__ import annotations

from collections.abc import Iterable

from clients.ams.models import RmaCreate, rma_problems
from clients.returnly.models import Return
from core.mapping.address import FittedAddress, fit_address
from core.mapping.identity import customer_identifier_for, manifest_id_for
from core.mapping.lines import build_line_items, line_problems
from core.mapping.result import (
    Adjustment,
    MappedRma,
    MappingIssue,
    MappingIssueCode,
    MappingRejected,
    MappingResult,
)
from core.mapping.text import clean, truncate_marked
from core.policy import MerchantPolicy, normalize_cause

RETURN_TYPE = "rma_submitted_by_customer"
PACKAGE_ID_MIN, PACKAGE_ID_MAX = 5, 100
INSTRUCTIONS_MAX = 250


def is_exchange(ret: Return) -> bool:
    """The return is an exchange (return flag, or any line typed ``exchange``)."""
    return ret.is_exchange or any(
        normalize_cause(line.return_type or "") == "exchange" for line in ret.line_items
    )


def _label(ret: Return) -> tuple[str | None, list[str], MappingIssue | None]:
    """(package_id, further tracking numbers, issue) from the Returnly labels."""
    numbers = list(
        dict.fromkeys(n for lb in ret.shipping_labels if (n := clean(lb.tracking_number)))
    )
    if not numbers:
        return None, [], None
    usable = [n for n in numbers if PACKAGE_ID_MIN <= len(n) <= PACKAGE_ID_MAX]
    if not usable:
        issue = MappingIssue(
            code=MappingIssueCode.INVALID_TRACKING_NUMBER,
            message=f"Returnly label tracking number has {len(numbers[0])} characters "
            f"(AMS package_id allows {PACKAGE_ID_MIN}..{PACKAGE_ID_MAX})",
            field="shipping_labels[0].tracking_number",
        )
        return None, [], issue
    return usable[0], usable[1:], None


def _intake_holds(ret: Return, policy: MerchantPolicy) -> list[MappingIssue]:
    out: list[MappingIssue] = []
    if is_exchange(ret) and policy.exchange_intake == "hold":
        out.append(
            MappingIssue(
                code=MappingIssueCode.EXCHANGE_HELD,
                message="exchange returns are held for review by the merchant's policy",
                field="is_exchange",
            )
        )
    if ret.is_gift and policy.gift_intake == "hold":
        out.append(
            MappingIssue(
                code=MappingIssueCode.GIFT_HELD,
                message="gift returns are held for review by the merchant's policy",
                field="is_gift",
            )
        )
    return out


def _address(
    fitted: FittedAddress, has_label: bool, issues: list[MappingIssue], notes: list[Adjustment]
) -> dict[str, str]:
    if not has_label:
        issues.extend(fitted.problems)
        notes.extend(fitted.adjustments)
        return fitted.fields
    if fitted.problems:
        kinds = ", ".join(sorted({p.code.value for p in fitted.problems}))
        notes.append(
            Adjustment(
                field="customer_address_*",
                message=f"address left out ({kinds}); not needed with the Returnly label",
            )
        )
        return {}
    notes.extend(fitted.adjustments)
    return fitted.fields


def _instructions(parts: list[str], notes: list[Adjustment]) -> str | None:
    text = "; ".join(parts)
    if not text:
        return None
    if len(text) > INSTRUCTIONS_MAX:
        notes.append(
            Adjustment(
                field="customer_instructions",
                message=f"cut from {len(text)} to {INSTRUCTIONS_MAX} characters",
            )
        )
    return truncate_marked(text, INSTRUCTIONS_MAX)


def map_return_to_rma(
    ret: Return, policy: MerchantPolicy, *, known_skus: Iterable[str] | None = None
) -> MappingResult:
    """Map a return to an RMA create record, or to the issues that hold it for review.

    ``known_skus`` is the AMS catalog when the caller has it; without it an unknown SKU is
    only found when AMS refuses the record.
    """
    issues = _intake_holds(ret, policy) + line_problems(ret, known_skus)
    notes: list[Adjustment] = []
    package_id, more_tracking, label_issue = _label(ret)
    if label_issue is not None:
        issues.append(label_issue)
    has_label = package_id is not None or label_issue is not None
    address = _address(fit_address(ret.shopper_address), has_label, issues, notes)
    if issues:
        return MappingRejected(issues=issues, adjustments=notes)

    manifest_id, manifest_cut = manifest_id_for(ret.rma)
    parts: list[str] = []
    if is_exchange(ret):
        parts.append("Returnly exchange")
    if ret.is_gift:
        parts.append("Returnly gift return")
    if manifest_cut:
        notes.append(
            Adjustment(field="manifest_id", message="RMA number over 20 characters: last 20 kept")
        )
        parts.append(f"Returnly RMA {clean(ret.rma)}")
    if more_tracking:
        parts.append("Also shipped under tracking " + ", ".join(more_tracking))
    line_items, line_notes = build_line_items(ret, policy)
    notes.extend(line_notes)
    rma = RmaCreate(
        customer_identifier=customer_identifier_for(ret.id),
        manifest_id=manifest_id,
        return_type=RETURN_TYPE,
        generate_return_label=package_id is None,
        package_id=package_id,
        customer_instructions=_instructions(parts, notes),
        line_items=line_items,
    ).model_copy(update=address)
    problems = rma_problems(rma)
    if problems:
        return MappingRejected(
            issues=[
                MappingIssue(code=MappingIssueCode.AMS_RULE, message=f"{f}: {p}", field=f)
                for f, p in problems
            ],
            adjustments=notes,
        )
    return MappedRma(rma=rma, adjustments=notes)
