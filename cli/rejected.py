"""``bridge rejected``: the webhook deliveries and callbacks the receiver refused, newest first."""

from __future__ import annotations

import json

import typer


def rejected(
    limit: int = typer.Option(20, min=1, max=1000, help="How many rows to show."),
    source: str | None = typer.Option(None, help="Only 'returnly', 'ams' or 'http' (routes)."),
    merchant: str | None = typer.Option(None, help="Only this merchant."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Show refused requests from the ledger inbox: when, what, why, and the kept excerpt."""
    from runtime import get_ledger

    rows = get_ledger().rejected_inbox(limit, source=source, merchant=merchant)
    for row in rows:
        entry = {
            "received_at": row.received_at.isoformat(),
            "source": row.source,
            "merchant": row.merchant,
            "kind": row.kind,
            "reason": row.error,
            "claimed_message_id": row.claimed_message_id,
            "excerpt": row.payload,
        }
        if as_json:
            typer.echo(json.dumps(entry, default=str, sort_keys=True))
        else:
            claimed = f" claimed={row.claimed_message_id}" if row.claimed_message_id else ""
            typer.echo(
                f"{entry['received_at']}  {row.source}/{row.merchant or '-'}  {row.kind}: "
                f"{row.error}{claimed}"
            )
    if not rows and not as_json:
        typer.echo("no rejected requests")
