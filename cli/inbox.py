"""``bridge inbox list`` and ``bridge inbox replay``: the operator's view of the webhook inbox.

A message the sweeper gave up on is ``dead`` (and has an open ``inbox_dead_letter`` review
exception); ``replay`` puts it back in the queue with a fresh attempt budget, and with
``--dispatch`` hands it to Prefect at once instead of waiting for the next sweep.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, get_args

import typer

if TYPE_CHECKING:
    from ledger import InboxMessage, InboxStatus

app = typer.Typer(help="The webhook inbox: dead letters, replays.", no_args_is_help=True)

ERROR_WIDTH = 120


def _status(value: str) -> InboxStatus | None:
    from ledger import InboxStatus

    if value == "any":
        return None
    allowed = get_args(InboxStatus)
    if value not in allowed:
        raise typer.BadParameter(f"one of any, {', '.join(allowed)}")
    return value  # type: ignore[return-value]  # checked against the Literal just above


def _line(row: InboxMessage) -> str:
    error = (row.error or "").replace("\n", " ")[:ERROR_WIDTH]
    return (
        f"{row.source}/{row.message_id}  {row.status}  merchant={row.merchant}  kind={row.kind}"
        f"  subject={row.subject_id}  attempts={row.attempts}  dispatches={row.dispatches}"
        f"  updated={row.updated_at:%Y-%m-%d %H:%M:%S}  {error}"
    )


@app.command(name="list")
def list_messages(
    status: Annotated[str, typer.Option(help="Status to show, or 'any'.")] = "dead",
    merchant: Annotated[str | None, typer.Option(help="Only this merchant.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """Inbox messages of one status (dead letters by default), newest first."""
    from runtime import get_ledger

    rows = get_ledger().list_inbox(_status(status), merchant, limit)
    for row in rows:
        typer.echo(_line(row))
    typer.echo(f"{len(rows)} message(s)", err=True)


@app.command()
def replay(
    messages: Annotated[
        list[str] | None, typer.Argument(help="SOURCE/MESSAGE_ID of each message.")
    ] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Every dead message.")] = False,
    merchant: Annotated[str | None, typer.Option(help="With --all-dead: one merchant.")] = None,
    dispatch: Annotated[bool, typer.Option(help="Hand over now, not at the next sweep.")] = False,
    by: Annotated[str, typer.Option(help="Who replays (kept on the exception).")] = "cli",
) -> None:
    """Put dead (or failed) messages back in the queue; their dead-letter exceptions close."""
    from ledger import LedgerError
    from runtime import get_ledger

    ledger = get_ledger()
    refs = [tuple(m.split("/", 1)) for m in messages or []]
    if any(len(ref) != 2 or not all(ref) for ref in refs):
        raise typer.BadParameter("name each message as SOURCE/MESSAGE_ID")
    if all_dead:
        refs += [(r.source, r.message_id) for r in ledger.list_inbox("dead", merchant, 10_000)]
    if not refs:
        raise typer.BadParameter("name messages or pass --all-dead")
    replayed: list[InboxMessage] = []
    failed = 0
    for source, message_id in dict.fromkeys(refs):
        try:
            replayed.append(ledger.replay_inbox(source, message_id, by=by))
        except LedgerError as exc:
            typer.echo(f"not replayed {source}/{message_id}: {exc}", err=True)
            failed += 1
    if dispatch and replayed:
        from webhooks.inbox import InboxItem, dispatch_all
        from webhooks.settings import WebhookSettings, build_dispatcher

        dispatcher = build_dispatcher(WebhookSettings().dispatch)
        work = [
            (
                r.merchant,
                InboxItem(r.source, r.message_id, r.kind, r.subject_id, attempt=r.dispatches),
            )
            for r in replayed
        ]
        sent = dispatch_all(ledger, dispatcher, work)
        typer.echo(f"dispatched {sent} of {len(work)}")
    for row in replayed:
        typer.echo(f"replayed {row.source}/{row.message_id} (pending)")
    if failed:
        raise typer.Exit(1)
