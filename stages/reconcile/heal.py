"""Safe healing: re-run intake for a missing RMA, completion for a received-not-refunded return.

Only rows the classifier marks ``healable`` are healed (it withdraws healability when any other
finding on the same return is ambiguous), and money-out drift is never healed, even if a future
rule marked it healable. Healing goes through the lifecycle steps themselves, so it inherits
their exactly-once guards: intake turns a duplicate RMA into "already there", completion
re-reads Returnly and never refunds twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

from clients.ams import AmsClient
from core.merchant import MerchantConfig
from ledger import Ledger
from platforms import PlatformLike, Return, ReturnsPlatform, as_platform
from stages import names
from stages.completion import complete_return
from stages.intake import intake_returns
from stages.reconcile.models import HealAction, HealStep

logger = logging.getLogger(__name__)

HEAL_ACTIONS: Final[dict[str, HealAction]] = {
    "authorized_no_rma": "intake",
    "received_not_refunded": "completion",
}
"""Drift kind -> the lifecycle step that heals it; nothing else is ever healed."""
NEVER_HEAL: Final = frozenset({"refunded_not_received"})
"""A return with one of these findings is left alone entirely (money went out without goods)."""
INTAKE_BATCH: Final = 30


def plan_healing(drift: pd.DataFrame) -> list[HealStep]:
    """The healing steps for a drift frame, most severe first (outcome ``planned``)."""
    if drift.empty:
        return []
    kind = drift["kind"].astype("str")
    blocked = set(drift.loc[kind.isin(NEVER_HEAL), "customer_identifier"].astype("str"))
    rows = drift[
        drift["healable"].to_numpy(dtype=bool)
        & kind.isin(HEAL_ACTIONS).to_numpy()
        & ~drift["customer_identifier"].astype("str").isin(blocked).to_numpy()
        & drift["return_id"].notna().to_numpy()
    ]
    ams_ids = rows["ams_id"].astype(object).where(rows["ams_id"].notna(), None)
    return [
        HealStep(
            kind=str(k),
            customer_identifier=str(cid),
            return_id=str(rid),
            ams_id=None if aid is None else str(aid),
            action=HEAL_ACTIONS[str(k)],
        )
        for k, cid, rid, aid in zip(
            rows["kind"].astype("str"),
            rows["customer_identifier"],
            rows["return_id"],
            ams_ids,
            strict=True,
        )
    ]


def _failed(step: HealStep, exc: Exception) -> HealStep:
    logger.exception("healing %s (%s) failed", step.return_id, step.action)
    return step.model_copy(update={"outcome": "failed", "detail": f"{type(exc).__name__}: {exc}"})


def _heal_intake(
    merchant: MerchantConfig,
    steps: Sequence[HealStep],
    *,
    ledger: Ledger,
    platform: ReturnsPlatform,
    ams: AmsClient,
) -> list[HealStep]:
    out: list[HealStep] = []
    for start in range(0, len(steps), INTAKE_BATCH):
        batch = steps[start : start + INTAKE_BATCH]
        fresh: list[tuple[HealStep, Return]] = []
        for step in batch:
            try:
                fresh.append((step, platform.read_return(step.return_id)))
            except platform.errors.not_found:
                out.append(step.model_copy(update={"outcome": "skipped", "detail": "gone"}))
            except Exception as exc:
                out.append(_failed(step, exc))
        if not fresh:
            continue
        try:
            outcomes = intake_returns(merchant, [r for _, r in fresh], ledger=ledger, ams=ams)
        except Exception as exc:
            out += [_failed(step, exc) for step, _ in fresh]
            continue
        by_id = {o.return_id: o for o in outcomes}
        for step, ret in fresh:
            got = by_id.get(ret.id)
            update = {"outcome": got.outcome, "detail": got.detail} if got else {}
            out.append(step.model_copy(update=update or {"outcome": "skipped"}))
    return out


def _heal_completion(
    merchant: MerchantConfig,
    step: HealStep,
    *,
    ledger: Ledger,
    platform: ReturnsPlatform,
    ams: AmsClient,
) -> HealStep:
    try:
        if ledger.get_link(merchant.name, return_id=step.return_id) is None:
            # The bridge never saw this return: adopt the RMA AMS holds for it first.
            ledger.upsert_link(
                merchant.name,
                step.return_id,
                step.customer_identifier,
                ams_uuid=step.ams_id,
                stage=names.RECEIVED,
                status="received",
            )
            ledger.record_stage(
                merchant.name, step.return_id, "reconcile", "adopted", {"ams_id": step.ams_id}
            )
        got = complete_return(merchant, step.return_id, ledger=ledger, returnly=platform, ams=ams)
    except Exception as exc:
        return _failed(step, exc)
    return step.model_copy(update={"outcome": got.outcome, "detail": got.detail})


def heal(
    merchant: MerchantConfig,
    steps: Sequence[HealStep],
    *,
    ledger: Ledger,
    returnly: PlatformLike,
    ams: AmsClient,
) -> list[HealStep]:
    """Carry out planned steps; each return is isolated (a failure is recorded, not raised)."""
    platform = as_platform(returnly)
    intake = [s for s in steps if s.action == "intake"]
    done = _heal_intake(merchant, intake, ledger=ledger, platform=platform, ams=ams)
    done += [
        _heal_completion(merchant, s, ledger=ledger, platform=platform, ams=ams)
        for s in steps
        if s.action == "completion"
    ]
    for step in done:
        ledger.record_stage(
            merchant.name,
            step.return_id,
            "reconcile",
            f"heal_{step.action}",
            {"kind": step.kind, "outcome": step.outcome, "detail": step.detail[:500]},
        )
        logger.info(
            "healed %s (%s via %s): %s", step.return_id, step.kind, step.action, step.outcome
        )
    return done
