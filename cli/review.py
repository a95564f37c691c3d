"""``bridge review``: the review queue from the shell (the same actions as the deployments).

``list`` and ``show`` read the ledger. ``approve`` and ``reject`` send the decision to the held
refund's suspended review run when one waits (as the UI's Resume form does), else record and
apply it here through the same leased refund path. ``resolve`` closes exceptions with a note;
``retry`` replays the stage they need (a local flow run).
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from typing import Any

import typer

app = typer.Typer(help="The review queue: list, show and act on exceptions.", no_args_is_help=True)

MerchantOpt = typer.Option(None, "--merchant", "-m", help="Only this merchant.")
ReasonOpt = typer.Option(None, "--reason", "-r", help="Only exceptions with this reason.")
JsonOpt = typer.Option(False, "--json", help="Print JSON instead of text.")
ByOpt = typer.Option(None, "--by", help="Who acts (default: your user name).")
IdsArg = typer.Argument(None, help="Exception ids (or use --reason).")


def _by(by: str | None) -> str:
    return by or getpass.getuser()


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _exception_merchant(exception_id: int, merchant: str | None) -> str:
    from runtime import get_ledger

    exc = get_ledger().get_exception(exception_id)
    if exc is None:
        raise typer.BadParameter(f"no exception {exception_id}")
    if merchant and exc.merchant != merchant:
        raise typer.BadParameter(f"exception {exception_id} belongs to {exc.merchant}")
    return exc.merchant


@app.command("list")
def list_(
    merchant: str | None = MerchantOpt, reason: str | None = ReasonOpt, as_json: bool = JsonOpt
) -> None:
    """Open exceptions, oldest first: id, age, reason, return, RMA, suggested action."""
    from core.review import table_rows
    from runtime import get_ledger
    from stages.review import queue_items

    ledger = get_ledger()
    names = [merchant] if merchant else sorted({e.merchant for e in ledger.list_exceptions()})
    rows: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    for name in names:
        items = [i for i in queue_items(ledger, name) if reason is None or i.reason == reason]
        rows += [{"merchant": name, **row} for row in table_rows(items, now)]
    if as_json:
        _echo_json(rows)
        return
    for r in rows:
        typer.echo(
            f"{r['id']:>6}  {r['age']:>4}  {r['merchant']:<16} {r['reason']:<28} "
            f"{r['return_id']:<12} {r['rma']:<14} {r['suggested_action']}"
        )
    typer.echo(f"{len(rows)} open")


@app.command()
def show(exception_id: int, as_json: bool = JsonOpt) -> None:
    """Everything about one exception, with its review (held refunds)."""
    from runtime import get_ledger

    ledger = get_ledger()
    exc = ledger.get_exception(exception_id)
    if exc is None:
        raise typer.BadParameter(f"no exception {exception_id}")
    review = ledger.get_held_review(exception_id)
    data: dict[str, Any] = {
        c: getattr(exc, c)
        for c in [
            "id",
            "merchant",
            "reason",
            "status",
            "message",
            "return_id",
            "stage",
            "source",
            "occurrences",
            "created_at",
            "last_seen_at",
            "resolved_at",
            "resolved_by",
            "note",
            "payload",
        ]
    }
    if review is not None:
        data["review"] = {
            c: getattr(review, c)
            for c in [
                "status",
                "flow_run_id",
                "deadline",
                "default_action",
                "decision",
                "deduction_amount",
                "decided_by",
                "decided_at",
                "note",
                "outcome",
            ]
        }
    if as_json:
        _echo_json(data)
        return
    for key, value in data.items():
        if isinstance(value, dict):
            typer.echo(f"{key}:")
            for k, v in value.items():
                typer.echo(f"  {k}: {v}")
        else:
            typer.echo(f"{key}: {value}")


def _decide(
    exception_id: int,
    merchant: str | None,
    decision: str,
    by: str | None,
    note: str,
    deduction: float,
    as_json: bool,
) -> None:
    from ledger import LedgerError
    from tasks.review_queue import HeldRefundReview, decide_held

    name = _exception_merchant(exception_id, merchant)
    answer = HeldRefundReview(
        decision=decision,
        deduction_amount=deduction,
        reviewer=_by(by),
        note=note,
    )
    try:
        result = decide_held(name, exception_id, answer)
    except (LedgerError, ValueError) as exc:  # a refused decision: say why, exit non-zero
        typer.echo(f"exception {exception_id}: not {decision}d: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        _echo_json(result.model_dump())
    elif result.sent_to_run:
        typer.echo(f"exception {exception_id}: {decision} sent to review run {result.sent_to_run}")
    else:
        typer.echo(f"exception {exception_id}: {decision}d here: {result.outcome}")


@app.command()
def approve(
    exception_id: int,
    deduction: float = typer.Option(0.0, "--deduction", help="Withhold this amount (e.g. 12.50)."),
    note: str = typer.Option("", "--note", help="Why (kept in the ledger)."),
    by: str | None = ByOpt,
    merchant: str | None = MerchantOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Approve a held refund (optionally with a deduction): it is refunded exactly once."""
    _decide(exception_id, merchant, "approve", by, note, deduction, as_json)


@app.command()
def reject(
    exception_id: int,
    note: str = typer.Option("", "--note", help="Why (kept in the ledger)."),
    by: str | None = ByOpt,
    merchant: str | None = MerchantOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Reject a held refund: nothing is refunded, the exception closes."""
    _decide(exception_id, merchant, "reject", by, note, 0.0, as_json)


@app.command()
def resolve(
    exception_ids: list[int] | None = IdsArg,
    note: str = typer.Option(..., "--note", help="What was done about it."),
    merchant: str = typer.Option(..., "--merchant", "-m", help="The merchant."),
    reason: str | None = ReasonOpt,
    by: str | None = ByOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Close exceptions with a note (held refunds close without a refund)."""
    from tasks.review_queue import resolve_exceptions

    result = resolve_exceptions(
        merchant, _by(by), note, exception_ids=list(exception_ids or []), reason=reason
    )
    if as_json:
        _echo_json(result.model_dump())
    else:
        typer.echo(f"resolved: {result.resolved or 'none'}; skipped: {result.skipped or 'none'}")


@app.command()
def retry(
    exception_ids: list[int] | None = IdsArg,
    merchant: str = typer.Option(..., "--merchant", "-m", help="The merchant."),
    reason: str | None = ReasonOpt,
    dry_run: bool = typer.Option(False, "--dry-run", help="Plan only, change nothing."),
    as_json: bool = JsonOpt,
) -> None:
    """Re-run the stage the exceptions need; those the retry settles are resolved."""
    from flows.review_retry import review_retry

    result = review_retry(
        merchant=merchant,
        exception_ids=list(exception_ids or []) or None,
        reason=reason,
        dry_run=dry_run,
    )
    if as_json:
        _echo_json(result.model_dump())
    else:
        for i, what in sorted(result.results.items()):
            typer.echo(f"{i:>6}  {what}")
